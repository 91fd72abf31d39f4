"""JobContext: what a running task may know about its run.

The worker builds one JobContext per job, whose ``abort_reason`` is the
``get`` of an :class:`AbortFlag` the worker keeps for that job and sets with
an :class:`AbortReason`: ``context.should_abort()`` then answers without a
database query, from any thread (sync tasks run in threads); tasks that await
can also ``await flag.wait()``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any

from procrastinate import utils

if TYPE_CHECKING:
    from procrastinate import app as app_module
    from procrastinate import jobs, tasks


class AbortReason(Enum):
    """Why a job is asked to stop."""

    USER_REQUEST = "user_request"  #: someone cancelled it with abort=True
    SHUTDOWN = "shutdown"  #: its worker is shutting down
    #: its worker was cut off from the database for most of its lease, and
    #: stops the job before other workers may take it (docs/reliability.md)
    LEASE_LOST = "lease_lost"


class AbortFlag:
    """Set-once abort flag for one running job, readable from any thread.

    A plain attribute, no threading primitive: one is made per job, and
    reading or setting an attribute is atomic in CPython; ``set`` is called
    from the worker's event loop only.
    """

    __slots__ = ("_reason",)

    def __init__(self) -> None:
        self._reason: AbortReason | None = None

    def set(self, reason: AbortReason) -> None:
        if self._reason is None:
            self._reason = reason

    def get(self) -> AbortReason | None:
        return self._reason

    def is_set(self) -> bool:
        return self._reason is not None

    async def wait(self, poll_interval: float = 0.1) -> AbortReason | None:
        while self._reason is None:
            await asyncio.sleep(poll_interval)
        return self._reason


def _never_aborted() -> AbortReason | None:
    return None


@dataclasses.dataclass(kw_only=True)
class JobResult:
    """Timing and result of a job run, for logs."""

    start_timestamp: float
    end_timestamp: float | None = None
    result: Any = None

    def duration(self, current_timestamp: float) -> float:
        return (self.end_timestamp or current_timestamp) - self.start_timestamp

    def as_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "start_timestamp": self.start_timestamp,
            "duration": self.duration(current_timestamp=time.time()),
        }
        if self.end_timestamp:
            values.update(end_timestamp=self.end_timestamp, result=self.result)
        return values


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobContext:
    """Execution context of a running job, passed to tasks declared with
    ``pass_context=True``."""

    #: The App running the job.
    app: app_module.App
    #: Name of the worker.
    worker_name: str | None = None
    #: Queues the worker listens to (None: all).
    worker_queues: Iterable[str] | None = None
    #: The job being run.
    job: jobs.Job
    #: When the run started (time.time()).
    start_timestamp: float
    #: The worker's additional_context.
    additional_context: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Returns why the job should stop, or None; set by the worker.
    abort_reason: Callable[[], AbortReason | None] = _never_aborted
    #: What the jobs it was deferred after returned, by job id (None for
    #: one that stored no result); empty for a job deferred after none.
    parent_results: dict[int, Any] = dataclasses.field(default_factory=dict)

    def should_abort(self) -> bool:
        """True when the job should stop as soon as possible (and raise
        ``exceptions.JobAborted``)."""
        return self.abort_reason() is not None

    async def should_abort_async(self) -> bool:
        return self.should_abort()

    def evolve(self, **changes: Any) -> JobContext:
        return dataclasses.replace(self, **changes)

    @property
    def queues_display(self) -> str:
        return utils.queues_display(self.worker_queues)

    @property
    def task(self) -> tasks.Task:
        """The Task the job runs."""
        return self.app.tasks[self.job.task_name]
