"""What the worker's parts share, and nothing else: the options and one
WorkerState per run. The state belongs to the event loop: the heartbeat
thread only reads ``worker_id`` and hands what it learns to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from procrastinate import jobs, middleware, utils
from procrastinate.job_context import JobResult
from procrastinate.worker.prefetch import PrefetchBuffer

if TYPE_CHECKING:
    from procrastinate.metrics import WorkerMetrics
    from procrastinate.worker.executor import JobRun

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class WorkerOptions:
    """The worker's settings (App.run_worker_async documents them), named as
    procrastinate's Worker attributes, which read them."""

    worker_name: str | None
    queues: list[str] | None
    concurrency: int
    wait: bool
    prefetch: int
    fetch_job_polling_interval: float
    abort_job_polling_interval: float
    shutdown_graceful_timeout: float | None
    listen_notify: bool
    delete_jobs: jobs.DeleteJobCondition
    additional_context: dict[str, Any] | None
    install_signal_handlers: bool
    update_heartbeat_interval: float
    stalled_worker_timeout: float | None
    task_middleware: list[middleware.TaskMiddleware]
    worker_middleware: list[middleware.WorkerMiddleware]
    #: Deadline of every database call (seconds).
    database_timeout: float
    #: Where Prometheus metrics are served (procrastinate.metrics): a port
    #: (0: a free one) on ``metrics_host``; None: no metrics at all.
    metrics_port: int | None = None
    metrics_host: str = "0.0.0.0"
    #: The objects alive at the start are left out of garbage collections
    #: while the worker runs (worker/heap.py).
    freeze_gc: bool = True


async def wait_event(event: asyncio.Event, timeout: float | None) -> None:
    """Until ``event`` is set or ``timeout`` passes."""
    with contextlib.suppress(asyncio.TimeoutError):
        await utils.wait_for(event.wait(), timeout)


class WorkerState:
    def __init__(
        self,
        options: WorkerOptions,
        logger: logging.Logger,
        read_results: Callable[[list[int]], Awaitable[list[dict[str, Any]]]],
        dump_json: Callable[[Any], str] = json.dumps,
        metrics: WorkerMetrics | None = None,
    ):
        self.options = options
        #: The worker's Prometheus metrics (None: not asked for): each event
        #: below is counted at one place, in memory.
        self.metrics = metrics
        self.logger = logger
        #: The connector's JSON encoder: a result to store must pass it.
        self.dump_json = dump_json
        #: Reads how jobs stand (JobManager.job_results_async): the results
        #: of a job's parents, before it runs.
        self.read_results = read_results
        #: Set while registered in the database.
        self.worker_id: int | None = None
        #: Jobs running in a slot, by id.
        self.running: dict[int, JobRun] = {}
        #: Jobs claimed ahead, waiting for a slot.
        self.buffer = PrefetchBuffer(options.prefetch)
        #: Jobs held until the worker unregisters (then given back as a
        #: retry): claimed ahead and not taken back by the database (their
        #: queueing lock taken meanwhile), or their outcome refused for good.
        self.kept: set[int] = set()
        #: The deadline (time.monotonic) of each claimed job with a timeout,
        #: until a slot starts it (worker.timeouts).
        self.deadlines: dict[int, float] = {}
        #: Jobs claimed ahead being given back (worker.release), still held.
        self.releasing: set[int] = set()
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

    # Messages and ``extra`` contents are an interface (log processing
    # filters on them): change them knowingly.
    def log_extra(self, action: str, run: JobRun | None = None, **kwargs: Any) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "action": action,
            "worker": {
                "name": self.options.worker_name,
                "worker_id": self.worker_id,
                "job_id": run.job.id if run else None,
                "queues": list(self.options.queues or []),
            },
        }
        if run is not None:
            extra["job"] = run.job.log_context()
            extra.update(
                JobResult(
                    start_timestamp=run.context.start_timestamp,
                    end_timestamp=run.end_timestamp,
                    result=run.result,
                ).as_dict()
            )
        return {**extra, **kwargs}

    def log(
        self,
        level: int,
        action: str,
        message: str,
        run: JobRun | None = None,
        exc_info: Any = None,
        **kwargs: Any,
    ) -> None:
        """Log ``message`` on the worker's logger, with log_extra's ``extra``."""
        if self.logger.isEnabledFor(level):
            extra = self.log_extra(action, run, **kwargs)
            self.logger.log(level, message, exc_info=exc_info, extra=extra, stacklevel=2)

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
            await wait_event(self.job_ended, remaining)

    # --- outages: logged once per outage, not once per failed call --------------

    def database_failed(self, what: str, error: BaseException, log: bool = True) -> None:
        """Log a failed database call; the first one of an outage says so
        (``log=False``: the caller logged it)."""
        first = self.db_down_since is None
        if first:
            self.db_down_since = time.monotonic()
        if not log:
            return
        if isinstance(error, asyncio.TimeoutError):
            error = TimeoutError(f"no answer within {self.options.database_timeout:g} s")
        if first:
            self.log(
                logging.ERROR,
                "database_unavailable",
                f"Database unavailable: could not {what} ({error!r}); "
                "will retry; outcomes are kept until they can be reported",
                exception=repr(error),
            )
        else:
            self.log(
                logging.WARNING,
                "database_still_unavailable",
                f"Database still unavailable: could not {what} ({error!r})",
                exception=repr(error),
            )

    def database_works(self) -> None:
        """A database call succeeded: end the outage, if any, and say so."""
        if self.db_down_since is None:
            return
        lasted = time.monotonic() - self.db_down_since
        self.db_down_since = None
        if self.metrics is not None:
            self.metrics.reconnected()
        self.log(
            logging.WARNING,
            "database_available",
            f"Database available again after {lasted:.1f} s: service resumed",
            outage_seconds=lasted,
        )
        for callback in self.on_database_back:
            callback()
