"""Jobs: the Job record, its statuses, and JobDeferrer (what defer calls)."""

from __future__ import annotations

import datetime
import functools
import logging
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import attr

from procrastinate import types

if TYPE_CHECKING:
    from procrastinate import manager

logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"
DEFAULT_PRIORITY = 0


class Status(Enum):
    """The statuses of a job (``procrastinate_job_status`` in SQL)."""

    TODO = "todo"  #: waiting in its queue
    DOING = "doing"  #: a worker runs it
    SUCCEEDED = "succeeded"  #: ended successfully
    FAILED = "failed"  #: ended with an error
    CANCELLED = "cancelled"  #: cancelled before it ran
    ABORTING = "aborting"  #: legacy, never set
    ABORTED = "aborted"  #: stopped on request while running


class DeleteJobCondition(Enum):
    """When a worker deletes the jobs it finished."""

    NEVER = "never"
    SUCCESSFUL = "successful"
    ALWAYS = "always"


class JobAvailable(TypedDict):
    type: Literal["job_available"]
    queues: list[str] | None


class AbortRequested(TypedDict):
    type: Literal["abort_requested"]
    job_ids: list[int] | None


#: Payloads of the ``procrastinate`` notification channel (docs/sql-api.md).
Notification = JobAvailable | AbortRequested



class JobInserted(TypedDict):
    """procrastinate 3.x's notification that jobs became available on a
    queue, as JobManager.listen_for_jobs passes it: ``job_id`` is None (our
    notifications name queues, not jobs)."""

    type: Literal["job_inserted"]
    job_id: int | None


class AbortJobRequested(TypedDict):
    """procrastinate 3.x's notification that the abort of a running job was
    requested (JobManager.listen_for_jobs)."""

    type: Literal["abort_job_requested"]
    job_id: int


class JobId(int):
    """A job id, as returned by ``defer``: an int that also answers ``.id``."""

    @property
    def id(self) -> int:
        return int(self)


@attr.frozen(kw_only=True, slots=False)
class Job:
    """One run of a task with given keyword arguments. An attrs class, as
    procrastinate's: ``attr.asdict(job)`` and ``attr.evolve(job, ...)`` work
    on it."""

    #: Unique id, set once the job is in the database.
    id: int | None = None
    #: Status (a Status value as a string).
    status: str | None = None
    #: Queue the job is deferred to.
    queue: str
    #: Higher runs first.
    priority: int = DEFAULT_PRIORITY
    #: Jobs sharing a lock run one at a time.
    lock: str | None
    #: At most one waiting job per queueing lock.
    queueing_lock: str | None
    #: Name of the task to run.
    task_name: str
    #: Keyword arguments of the task.
    task_kwargs: types.JSONDict = attr.field(factory=dict)
    #: Not run before this (timezone-aware) time.
    scheduled_at: datetime.datetime | None = None
    #: Runs that ended before this one.
    attempts: int = 0
    #: Whether an abort of the running job was requested.
    abort_requested: bool = False
    #: Worker running the job.
    worker_id: int | None = None
    #: Whether the worker keeps what the task returns (``store_result``;
    #: read it with JobManager.wait_for_job, docs/results.md).
    store_result: bool = False
    #: The jobs it waits for (deferred with ``configure(after=[...])``):
    #: it runs once they ended as its after_policy asks (docs/results.md).
    parents: list[int] | None = None
    #: The key of the concurrency limit the job falls under (``configure(
    #: limit_key="tenant:42")``; docs/flow-control.md). Not read back by a
    #: fetch: None on fetched jobs.
    limit_key: str | None = None
    #: Seconds a run may last from its claim (``@app.task(timeout=...)`` or
    #: ``configure(timeout=...)``; docs/flow-control.md); None: no timeout.
    #: On a fetched job, what its defer stored.
    timeout: float | None = None
    #: Set on a fetched job whose args could not be decoded (why, as text):
    #: its ``task_kwargs`` are empty, and the worker fails it without
    #: running it. None on every other job.
    decode_error: str | None = None
    #: Headers stored with the job at defer, such as the W3C trace context
    #: of the defer (``traceparent``, procrastinate.tracing); None without.
    headers: dict[str, str] | None = None
    #: Seconds the job waited in its queue before the claim that fetched it
    #: (on the database's clock, since its defer or its scheduled time if
    #: later): set on the jobs a worker fetched, None on every other job.
    waited: float | None = attr.field(default=None, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.scheduled_at is not None and self.scheduled_at.utcoffset() is None:
            raise ValueError("Timezone aware datetime is required")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        """Build a Job from a row of procrastinate_jobs (or of a function
        returning its columns)."""
        status = row["status"]
        return cls(
            id=row["id"],
            status=status.value if isinstance(status, Status) else status,
            queue=row["queue_name"],
            priority=row["priority"],
            lock=row["lock"],
            queueing_lock=row["queueing_lock"],
            task_name=row["task_name"],
            task_kwargs=row["args"] if row["args"] is not None else {},
            scheduled_at=row["scheduled_at"],
            attempts=row["attempts"],
            abort_requested=row.get("abort_requested", False),
            worker_id=row.get("worker_id"),
            store_result=bool(row.get("store_result", False)),
            parents=row.get("parents"),
            headers=row.get("headers"),
            waited=row.get("waited"),
            timeout=row.get("timeout"),
        )

    def asdict(self) -> dict[str, Any]:
        # procrastinate's fields; decode_error, store_result, parents,
        # headers and waited only on the jobs that have them.
        values = attr.asdict(self, recurse=False)
        for name in ("decode_error", "headers", "waited"):
            if values[name] is None:
                del values[name]
        if not values["store_result"]:
            del values["store_result"]
        if values["parents"] is None:
            del values["parents"]
        if values["limit_key"] is None:
            del values["limit_key"]
        if values["timeout"] is None:
            del values["timeout"]
        return values

    def evolve(self, **changes: Any) -> Job:
        return attr.evolve(self, **changes)

    @property
    def evaluated_args(self) -> types.JSONDict:
        """The keyword arguments the task is called with."""
        return self.task_kwargs

    @functools.cached_property
    def call_string(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.task_kwargs.items())
        return f"{self.task_name}[{self.id}]({arguments})"

    def log_context(self) -> types.JSONDict:
        context: dict[str, Any] = self.asdict()
        if self.scheduled_at is not None:
            context["scheduled_at"] = self.scheduled_at.isoformat()
        context["call_string"] = self.call_string
        return context


class JobDeferrer:
    """A configured job waiting for its arguments: ``defer(**kwargs)`` writes
    it. Returned by ``Task.configure`` and ``App.configure_task``.

    ``retry_policy`` holds keys of a job object that travel with every job
    deferred: the task's retry keys (see ``retry.sql_retry_policy``) and a
    relative ``scheduled_in``. With ``connection`` (a psycopg connection of
    the caller), jobs are deferred in that connection's transaction: they
    exist once it commits, never if it rolls back.
    """

    def __init__(
        self,
        job_manager: manager.JobManager,
        job: Job,
        retry_policy: dict[str, Any] | None = None,
        connection: Any = None,
    ):
        self.job_manager = job_manager
        self.job = job
        self.retry_policy = retry_policy or {}
        self.connection = connection

    def make_new_job(self, **task_kwargs: types.JSONValue) -> Job:
        return self.job.evolve(task_kwargs={**self.job.task_kwargs, **task_kwargs})

    def _job_objects(self, task_kwargs: tuple[types.JSONDict, ...]) -> list[dict[str, Any]]:
        """The JSON job objects to defer, straight from the arguments: the
        configured job's object with each call's ``args`` (no Job built)."""
        from procrastinate._db import wire  # wire imports this module

        base, defaults = wire.job_object(self.job, self.retry_policy), self.job.task_kwargs
        return [{**base, "args": {**defaults, **kwargs}} for kwargs in task_kwargs]

    def _log(
        self,
        level: int,
        action: str,
        verb: str,
        task_kwargs: tuple[types.JSONDict, ...],
        ids: list[int] | None = None,
    ) -> None:
        """procrastinate 3.x's log lines around a defer: ``about_to_defer_jobs``
        (DEBUG, before; no ids yet) and ``jobs_deferred`` (INFO, after)."""
        if not logger.isEnabledFor(level):
            return  # the log context of every job is not built for nothing
        jobs = [self.make_new_job(**kwargs) for kwargs in task_kwargs]
        if ids is not None:
            jobs = [
                job.evolve(id=job_id, status=Status.TODO.value)
                for job, job_id in zip(jobs, ids, strict=True)
            ]
        logger.log(
            level,
            f"{verb} {len(jobs)} {'job' if len(jobs) == 1 else 'jobs'}",
            extra={"action": action, "jobs": [job.log_context() for job in jobs]},
        )

    def _log_deferred(self, task_kwargs: tuple[types.JSONDict, ...], ids: list[int]) -> None:
        self._log(logging.INFO, "jobs_deferred", "Deferred", task_kwargs, ids)

    def _log_about_to_defer(self, task_kwargs: tuple[types.JSONDict, ...]) -> None:
        self._log(logging.DEBUG, "about_to_defer_jobs", "About to defer", task_kwargs)

    async def defer_async(self, **task_kwargs: types.JSONValue) -> JobId:
        (job_id,) = await self.batch_defer_async(task_kwargs)
        return job_id

    async def batch_defer_async(self, *task_kwargs: types.JSONDict) -> list[JobId]:
        self._log_about_to_defer(task_kwargs)
        ids = await self.job_manager.defer_job_objects_async(
            self._job_objects(task_kwargs), connection=self.connection
        )
        self._log_deferred(task_kwargs, ids)
        return [JobId(job_id) for job_id in ids]

    def defer(self, **task_kwargs: types.JSONValue) -> JobId:
        (job_id,) = self.batch_defer(task_kwargs)
        return job_id

    def defer_and_wait(
        self, *, wait_timeout: float | None = None, **task_kwargs: types.JSONValue
    ) -> Any:
        """Defer one job that stores its result, wait until it ends (at most
        ``wait_timeout`` seconds), and return what the task returned:
        JobManager.wait_for_job raises JobFailed, JobCancelled or
        WaitTimeout, and ResultNotStored when the result could not be kept."""
        return self.defer_and_wait_with(task_kwargs, wait_timeout)

    async def defer_and_wait_async(
        self, *, wait_timeout: float | None = None, **task_kwargs: types.JSONValue
    ) -> Any:
        return await self.defer_and_wait_with_async(task_kwargs, wait_timeout)

    def defer_and_wait_with(self, task_kwargs: dict[str, Any], wait_timeout: float | None) -> Any:
        """defer_and_wait, whatever the names of the task's arguments."""
        job_id = self._storing_result().defer(**task_kwargs)
        return self.job_manager.wait_for_job(job_id, wait_timeout).value()

    async def defer_and_wait_with_async(
        self, task_kwargs: dict[str, Any], wait_timeout: float | None
    ) -> Any:
        job_id = await self._storing_result().defer_async(**task_kwargs)
        finished = await self.job_manager.wait_for_job_async(job_id, wait_timeout)
        return finished.value()

    def _storing_result(self) -> JobDeferrer:
        return JobDeferrer(
            self.job_manager,
            self.job.evolve(store_result=True),
            retry_policy=self.retry_policy,
            connection=self.connection,
        )

    def batch_defer(self, *task_kwargs: types.JSONDict) -> list[JobId]:
        self._log_about_to_defer(task_kwargs)
        ids = self.job_manager.defer_job_objects(
            self._job_objects(task_kwargs), connection=self.connection
        )
        self._log_deferred(task_kwargs, ids)
        return [JobId(job_id) for job_id in ids]
