"""What the worker's parts share, and nothing else.

The coordinator builds one WorkerState per run and gives it to each part
(producer, slots, reporter, health, aborts, listener, heartbeat), with the
narrow callables a part needs from another; no part holds the Worker. The
state belongs to the event loop: the heartbeat thread only reads
``worker_id`` and hands what it learns to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from procrastinate import jobs, utils
from procrastinate.worker import log
from procrastinate.worker.prefetch import PrefetchBuffer

if TYPE_CHECKING:
    import logging

    from procrastinate.worker.executor import JobRun

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class WorkerOptions:
    """The worker's settings, fixed for a run (App.run_worker_async
    documents them)."""

    name: str | None
    queues: list[str] | None
    concurrency: int
    wait: bool
    prefetch: int
    fetch_job_polling_interval: float
    abort_job_polling_interval: float
    update_heartbeat_interval: float
    stalled_worker_timeout: float | None
    delete_jobs: jobs.DeleteJobCondition
    additional_context: dict[str, Any] | None
    #: Deadline of every database call (seconds).
    database_timeout: float


class WorkerState:
    # Defined in log, bound here: the end of each job logs through it, and a
    # method costs no extra call.
    log_extra = log.log_extra

    def __init__(self, options: WorkerOptions, logger: logging.Logger):
        self.options = options
        self.logger = logger
        #: Set while registered in the database.
        self.worker_id: int | None = None
        #: Jobs running in a slot, by id.
        self.running: dict[int, JobRun] = {}
        #: Jobs claimed ahead, waiting for a slot.
        self.buffer = PrefetchBuffer(options.prefetch)
        #: The producer should look for jobs.
        self.wake = asyncio.Event()
        #: A job ended (wait_until looks again).
        self.job_ended = asyncio.Event()
        #: Fetch no more; set by a graceful stop and by an immediate one.
        self.stopping = asyncio.Event()
        #: Abort everything now.
        self.stop_now = asyncio.Event()
        #: The last fetch got all it asked for: more may wait, so a job that
        #: ends wakes the producer.
        self.last_fetch_full = False
        #: When database calls started failing (None: they work).
        self.db_down_since: float | None = None
        #: Called when a call finds the database back after an outage: what
        #: was missed meanwhile (notifications, aborts, reports) is looked
        #: at now.
        self.on_database_back: list[Callable[[], None]] = [self.wake.set]

    def holds(self, job_id: int) -> bool:
        """Whether the job is running here or claimed ahead."""
        return job_id in self.running or job_id in self.buffer

    async def db_call(self, awaitable: Awaitable[T]) -> T:
        """Await a database call with the worker's deadline."""
        return await utils.wait_for(awaitable, self.options.database_timeout)

    async def wait_until(self, condition: Callable[[], bool], timeout: float | None) -> None:
        """Until ``condition()`` holds (looked at each time a job ends) or
        ``timeout`` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not condition():
            self.job_ended.clear()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await utils.wait_for(self.job_ended.wait(), remaining)

    # --- outages: logged once per outage, not once per failed call --------------

    def database_failed(self, what: str, error: BaseException, log: bool = True) -> None:
        """Log a failed database call; the first one of an outage says so
        (``log=False``: the caller logged it)."""
        if isinstance(error, asyncio.TimeoutError):
            error = TimeoutError(f"no answer within {self.options.database_timeout:g} s")
        if not log:
            if self.db_down_since is None:
                self.db_down_since = time.monotonic()
            return
        if self.db_down_since is None:
            self.db_down_since = time.monotonic()
            self.logger.error(
                f"Database unavailable: could not {what} ({error!r}); "
                "will retry; outcomes are kept until they can be reported",
                extra=self.log_extra("database_unavailable", exception=repr(error)),
            )
        else:
            self.logger.warning(
                f"Database still unavailable: could not {what} ({error!r})",
                extra=self.log_extra("database_still_unavailable", exception=repr(error)),
            )

    def database_works(self) -> None:
        """A database call succeeded: end the outage, if any, and say so."""
        if self.db_down_since is None:
            return
        lasted = time.monotonic() - self.db_down_since
        self.db_down_since = None
        self.logger.warning(
            f"Database available again after {lasted:.1f} s: service resumed",
            extra=self.log_extra("database_available", outage_seconds=lasted),
        )
        for callback in self.on_database_back:
            callback()
