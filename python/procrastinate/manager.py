"""JobManager: every job operation of the driver, each one call of the SQL core.

Each operation is declared once, with ``@operation``, as a generator of
queries (see ``connector.Call``) with one signature and one docstring:
``x(...)`` runs it synchronously and ``x_async = x.async_`` declares the form
that runs it on the event loop.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import inspect
import json
import logging
import os
import re
import socket
import types
import uuid
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from procrastinate import connector as connector_module
from procrastinate import exceptions
from procrastinate import jobs as jobs_module
from procrastinate._db import queries
from procrastinate._db.wire import decode_fetched_args, job_object, loads_bytes
from procrastinate.connector import Operation, call_all, call_one

logger = logging.getLogger(__name__)

Job = jobs_module.Job
Status = jobs_module.Status

#: Jobs deleted per call of procrastinate_remove_old_jobs by delete_old_jobs.
DELETE_OLD_JOBS_BATCH_SIZE = 10_000


def _delete_jobs_value(delete_jobs: str | jobs_module.DeleteJobCondition | None) -> str:
    if delete_jobs is None:
        return jobs_module.DeleteJobCondition.NEVER.value
    return jobs_module.DeleteJobCondition(delete_jobs).value


def _status_value(status: str | Status | None) -> str | None:
    return status.value if isinstance(status, Status) else status


# --- the shapes of the calls -------------------------------------------------------


def _one(query: str, column: str, /, **arguments: Any) -> Operation[Any]:
    """``column`` of the one row ``query`` returns."""
    row = yield call_one(query, **arguments)
    return row[column]


def _rows(query: str, /, **arguments: Any) -> Operation[list[dict[str, Any]]]:
    rows = yield call_all(query, **arguments)
    return [dict(row) for row in rows]


def _ids(query: str, /, **arguments: Any) -> Operation[list[int]]:
    rows = yield call_all(query, **arguments)
    return [row["id"] for row in rows]


def _jobs(query: str, /, **arguments: Any) -> Operation[list[Job]]:
    rows = yield call_all(query, **arguments)
    return [Job.from_row(row) for row in rows]


# --- one declaration, two forms ----------------------------------------------------

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class _Method(Generic[P, T]):
    """One form of an operation: ``run(manager, ...)`` with the signature and
    docstring of ``function``, returning X where ``function`` returns
    Operation[X] (help(), IDEs). A non-data descriptor, so an instance
    attribute (monkeypatch) overrides it; on the class, the plain function."""

    def __init__(self, run: Callable[..., Any], function: Callable[..., Any]) -> None:
        self.function = functools.update_wrapper(run, function)
        signature = inspect.signature(function)
        result = signature.return_annotation
        if isinstance(result, str):  # annotations are postponed here
            result = re.sub(r"^Operation\[(.*)\]$", r"\1", result)
            run.__annotations__ = {**function.__annotations__, "return": result}
        run.__signature__ = signature.replace(return_annotation=result)  # type: ignore[attr-defined]
        self.named = False

    def __set_name__(self, owner: type, name: str) -> None:
        if not self.named:  # the first name of ``a = b = x.async_``
            self.named = True
            self.function.__name__ = name
            self.function.__qualname__ = f"{owner.__qualname__}.{name}"

    def __get__(self, manager: Any, owner: type | None = None) -> Callable[P, T]:
        if manager is None:
            return self.function
        return types.MethodType(self.function, manager)


class operation(_Method[P, R]):
    """Declare a JobManager operation once: ``function(self, ...)`` returns
    its Operation (connector.Call generator). The attribute is the
    synchronous form, ``manager.x(...) -> X``; ``x_async = x.async_`` the
    asynchronous one, ``await manager.x_async(...) -> X``. Code before the
    generator's first ``yield`` runs before any query; a plain function
    returning a generator runs at the call (stacklevel=3 names the caller)."""

    def __init__(self, function: Callable[Concatenate[JobManager, P], Operation[R]]):
        def run_sync(manager: JobManager, /, *args: Any, **kwargs: Any) -> Any:
            return manager._sync(function(manager, *args, **kwargs))

        async def run_async(manager: JobManager, /, *args: Any, **kwargs: Any) -> Any:
            return await manager._async(function(manager, *args, **kwargs))

        super().__init__(run_sync, function)
        self.async_: _Method[P, Coroutine[Any, Any, R]] = _Method(run_async, function)


def _counts_by(query: str, what: str) -> operation[..., list[dict[str, Any]]]:
    """list_queues, list_tasks and list_locks: the same filters, one query each."""

    def list_counts(
        self: JobManager,
        queue: str | None = None,
        task: str | None = None,
        status: str | None = None,
        lock: str | None = None,
    ) -> Operation[list[dict[str, Any]]]:
        return _rows(query, queue=queue, task=task, status=_status_value(status), lock=lock)

    list_counts.__doc__ = f"Per {what}: name, jobs_count and the count of each status."
    return operation(list_counts)


class JobManager:
    def __init__(self, connector: connector_module.BaseConnector):
        self.connector = connector

    # --- running operations ------------------------------------------------------

    @contextlib.contextmanager
    def _schema_errors(self) -> Iterator[None]:
        """A missing table or function means a missing (or old) schema."""
        try:
            yield
        except exceptions.ConnectorException as exc:
            if exc.sqlstate not in exceptions.SCHEMA_MISSING_SQLSTATES:
                raise
            raise exceptions.SchemaNotInstalled(
                f"{exc} (is the procrastinate schema installed and up to date?)"
            ) from exc

    def _sync(self, operation: Operation[T]) -> T:
        with self._schema_errors():
            return connector_module.run_operation_sync(self.connector, operation)

    async def _async(self, operation: Operation[T]) -> T:
        with self._schema_errors():
            return await connector_module.run_operation_async(self.connector, operation)

    # --- deferring -------------------------------------------------------------------

    def _defer(self, objects: list[dict[str, Any]]) -> Operation[list[int]]:
        """The one defer path: job objects in, their ids out."""
        # Serialised here, before any query: bad arguments write nothing.
        payload = self.connector.dump_json(objects)
        if not objects:
            return []
        return (yield from _ids(queries.DEFER_JOBS, jobs=payload))

    def _defer_jobs(
        self, jobs: Iterable[Job], retry_policy: dict[str, Any] | None
    ) -> Operation[list[Job]]:
        jobs = list(jobs)
        ids = yield from self._defer([job_object(job, retry_policy) for job in jobs])
        return [
            job.evolve(id=job_id, status=Status.TODO.value)
            for job, job_id in zip(jobs, ids, strict=True)
        ]

    @operation
    def defer_job_objects(self, objects: list[dict[str, Any]]) -> Operation[list[int]]:
        """Defer job objects (docs/sql-api.md, as built by job_object) in one
        call, all or nothing; returns their ids. The fast path of
        JobDeferrer: no Job is built."""
        return self._defer(objects)

    defer_job_objects_async = defer_job_objects.async_

    @operation
    def defer_job(
        self, job: Job, *, retry_policy: dict[str, Any] | None = None
    ) -> Operation[Job]:
        """Defer one job; returns it with its id. AlreadyEnqueued when its
        queueing lock is taken."""
        (deferred,) = yield from self._defer_jobs([job], retry_policy)
        return deferred

    defer_job_async = defer_job.async_

    @operation
    def batch_defer_jobs(
        self, jobs: list[Job], *, retry_policy: dict[str, Any] | None = None
    ) -> Operation[list[Job]]:
        """Defer many jobs in one call, all or nothing; returns them with
        their ids."""
        return self._defer_jobs(jobs, retry_policy)

    batch_defer_jobs_async = batch_defer_jobs.async_

    @operation
    def _defer_periodic_job(
        self,
        job: Job,
        periodic_id: str,
        defer_timestamp: int,
        *,
        retry_policy: dict[str, Any] | None = None,
    ) -> Operation[int | None]:
        """Defer the job of one periodic tick; None when that tick was
        already deferred (by this or another worker)."""
        if job.task_kwargs.get("timestamp") != defer_timestamp:
            raise exceptions.InvalidTimestamp
        return _one(
            queries.DEFER_PERIODIC_JOB,
            "id",
            task_name=job.task_name,
            periodic_id=periodic_id,
            defer_timestamp=defer_timestamp,
            job=self.connector.dump_json(job_object(job, retry_policy)),
        )

    defer_periodic_job = _defer_periodic_job.async_

    @operation
    def _last_periodic_ticks(self) -> Operation[list[dict[str, Any]]]:
        """The latest deferred tick of each periodic task (task_name,
        periodic_id, defer_timestamp)."""
        return _rows(queries.LAST_PERIODIC_TICKS)

    last_periodic_ticks_async = _last_periodic_ticks.async_

    # --- worker-facing (asynchronous only) ---------------------------------------------

    @operation
    def _fetch_jobs(
        self,
        worker_id: int | None,
        queues: list[str] | None,
        limit: int,
        *,
        claim_token: uuid.UUID | None = None,
        resume: bool = False,
    ) -> Operation[list[Job]]:
        """Claim up to ``limit`` runnable jobs of ``queues`` (None: all)
        under ``claim_token``. A job whose args cannot be decoded comes back
        with ``decode_error`` set (and empty args), for the worker to fail.
        ``resume``: this call retries one whose answer
        was lost, with the same token: the jobs that call claimed come back
        first (the database decides, procrastinate_fetch_jobs_v2)."""
        rows = yield call_all(
            queries.FETCH_JOBS,
            worker_id=worker_id,
            queues=None if queues is None else list(queues),
            limit=limit,
            claim_token=None if claim_token is None else str(claim_token),
            resume=resume,
        )
        loads, as_bytes = self.connector.json_loads, loads_bytes(self.connector)
        fetched = []
        for row in rows:
            problem = decode_fetched_args(row, loads, as_bytes)
            job = Job.from_row(row)
            if problem is not None:
                logger.error(
                    f"{problem}; the job fails without running",
                    extra={"action": "undecodable_job_args", "job_id": job.id,
                           "task_name": job.task_name, "error": problem},
                )
                job = job.evolve(decode_error=problem)
            fetched.append(job)
        return fetched

    fetch_jobs_async = _fetch_jobs.async_

    @operation
    def _finish_jobs(
        self,
        worker_id: int | None,
        outcomes: list[dict[str, Any]],
        delete_jobs: str | jobs_module.DeleteJobCondition | None = "never",
    ) -> Operation[list[dict[str, Any]]]:
        """Report outcomes (see _db.wire.build_outcome); one dict per outcome with
        job_id, accepted, status, scheduled_at, reason."""
        if not outcomes:
            return []
        return (
            yield from _rows(
                queries.FINISH_JOBS,
                worker_id=worker_id,
                outcomes=self.connector.dump_json(list(outcomes)),
                delete_jobs=_delete_jobs_value(delete_jobs),
            )
        )

    finish_jobs_async = _finish_jobs.async_

    @operation
    def _register_worker(
        self,
        name: str | None,
        queues: Iterable[str] | None,
        concurrency: int,
        stalled_after: float | None = None,
    ) -> Operation[int]:
        """Register a worker; ``stalled_after`` is its lease, the seconds of
        silence after which its jobs may be rescued (None: the database's
        setting procrastinate_settings.stalled_worker_timeout)."""
        return _one(
            queries.REGISTER_WORKER,
            "worker_id",
            name=name,
            queues=None if queues is None else list(queues),
            concurrency=concurrency,
            host=socket.gethostname(),
            pid=os.getpid(),
            stalled_after=stalled_after,
        )

    register_worker_async = _register_worker.async_

    @operation
    def _heartbeat(self, worker_id: int) -> Operation[float | None]:
        """Renew the worker's lease; returns its length in seconds, or None
        when the worker's row is gone: stop reporting under that id."""
        return _one(queries.HEARTBEAT, "lease", worker_id=worker_id)

    heartbeat_async = _heartbeat.async_

    @operation
    def _unregister_worker(self, worker_id: int) -> Operation[int]:
        """Remove the worker; returns how many held jobs went back to the queue."""
        return _one(queries.UNREGISTER_WORKER, "released", worker_id=worker_id)

    unregister_worker_async = _unregister_worker.async_

    @operation
    def _release_jobs(self, worker_id: int, job_ids: list[int]) -> Operation[list[int]]:
        """Give back jobs claimed ahead and never started (back to todo, no
        attempt counted; aborted if their abort was requested); returns
        the ids released."""
        if not job_ids:
            return []
        return (yield from _ids(queries.RELEASE_JOBS, worker_id=worker_id, job_ids=job_ids))

    release_jobs_async = _release_jobs.async_

    @operation
    def _jobs_to_abort(self, worker_id: int) -> Operation[list[int]]:
        """Ids of the worker's running jobs whose abort was requested."""
        return _ids(queries.JOBS_TO_ABORT, worker_id=worker_id)

    jobs_to_abort_async = _jobs_to_abort.async_

    @operation
    def _rescue_stalled_jobs(self, worker_id: int | None) -> Operation[list[dict[str, Any]]]:
        """Take back the jobs of workers silent for longer than their lease;
        returns ``{"job_id", "status"}`` per rescued job. The database
        decides everything: the leases, the rescue limit, and whether
        ``worker_id`` may rescue yet (not within a lease of a gap in its own
        heartbeat longer than its lease).
        None: an operator's rescue, when no worker is alive."""
        return _rows(queries.RESCUE_STALLED_JOBS, worker_id=worker_id)

    rescue_stalled_jobs_async = _rescue_stalled_jobs.async_

    async def listen_for_jobs_async(
        self,
        on_notification: Callable[[dict[str, Any]], Awaitable[None] | None],
        *,
        on_listening: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        """LISTEN on the ``procrastinate`` channel until cancelled, calling
        (and awaiting, if needed) ``on_notification(payload)`` with each
        payload as a dict. ``on_listening`` is called whenever LISTEN is
        (re)established: notifications may have been missed before."""

        async def handle(*, channel: str, payload: str) -> None:
            try:
                notification = json.loads(payload)
                if not isinstance(notification, dict):
                    raise ValueError("not a JSON object")
            except ValueError:
                logger.warning(
                    f"Ignoring malformed notification on {channel}: {payload!r}",
                    extra={"action": "malformed_notification"},
                )
                return
            logger.debug(
                f"Received {notification.get('type')} notification",
                extra={"action": "notification_received", "payload": payload},
            )
            result = on_notification(notification)
            if inspect.isawaitable(result):
                await result

        extra = {} if on_listening is None else {"on_listening": on_listening}
        await self.connector.listen_notify(
            on_notification=handle, channels=[queries.CHANNEL], **extra
        )

    # --- managing jobs -------------------------------------------------------------------

    @operation
    def cancel_job_by_id(
        self, job_id: int, abort: bool = False, delete_job: bool = False
    ) -> Operation[bool]:
        """Cancel a waiting job (or delete it), or with ``abort`` ask its
        worker to stop it. False when nothing was done (unknown job, or a
        status that allows neither)."""
        try:
            cancelled = yield from _one(
                queries.CANCEL_JOB,
                "cancelled",
                job_id=job_id,
                abort=abort,
                delete_job=delete_job,
            )
        except exceptions.JobNotFound:
            return False
        return bool(cancelled)

    cancel_job_by_id_async = cancel_job_by_id.async_

    @operation
    def retry_job_by_id(
        self,
        job_id: int,
        retry_at: datetime.datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> Operation[Status]:
        """Put a failed (or running) job back in the queue at ``retry_at``
        (None: now). Returns the new status; JobNotFound / InvalidJobStatus."""
        status = yield from _one(
            queries.RETRY_JOB,
            "status",
            job_id=job_id,
            retry_at=retry_at,
            priority=priority,
            queue=queue,
            lock=lock,
        )
        return Status(status)

    retry_job_by_id_async = retry_job_by_id.async_

    async def retry_job(
        self,
        job: Job,
        retry_at: datetime.datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> Status:
        """retry_job_by_id_async for ``job``."""
        assert job.id is not None
        return await self.retry_job_by_id_async(job.id, retry_at, priority, queue, lock)

    @operation
    def get_job_status(self, job_id: int) -> Operation[Status]:
        """The job's status; JobNotFound for an unknown id."""
        status = yield from _one(queries.GET_JOB_STATUS, "status", job_id=job_id)
        return Status(status)

    get_job_status_async = get_job_status.async_

    @operation
    def _delete_old_jobs(
        self,
        nb_hours: float,
        queue: str | None = None,
        include_failed: bool | None = False,
        include_cancelled: bool | None = False,
        include_aborted: bool | None = False,
        *,
        include_error: bool | None = None,
        should_delete_cancelled: bool | None = None,
        should_delete_aborted: bool | None = None,
        batch_size: int | None = DELETE_OLD_JOBS_BATCH_SIZE,
    ) -> Operation[int]:
        """Delete jobs finished more than ``nb_hours`` ago: succeeded ones,
        and failed / cancelled / aborted ones when asked (older names of these
        flags are accepted). Returns how many were deleted.

        Deletes ``batch_size`` jobs per call of procrastinate_remove_old_jobs,
        each call its own transaction, until a call deletes fewer: no long
        lock on a big table (None: everything in one call)."""
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        statuses = [Status.SUCCEEDED.value]
        if include_failed or include_error:
            statuses.append(Status.FAILED.value)
        if include_cancelled or should_delete_cancelled:
            statuses.append(Status.CANCELLED.value)
        if include_aborted or should_delete_aborted:
            statuses.append(Status.ABORTED.value)
        total = 0
        while True:
            removed = yield from _one(
                queries.REMOVE_OLD_JOBS,
                "removed",
                max_hours=nb_hours,
                queue=queue,
                statuses=statuses,
                max_jobs=batch_size,
            )
            total += removed
            if batch_size is None or removed < batch_size:
                return total

    delete_old_jobs = delete_old_jobs_async = _delete_old_jobs.async_

    # --- queues --------------------------------------------------------------------------

    @operation
    def pause_queue(self, queue: str) -> Operation[bool]:
        """Stop workers from fetching ``queue`` (running jobs finish). False
        when it was already paused."""
        changed = yield from _one(queries.PAUSE_QUEUE, "changed", queue=queue)
        return bool(changed)

    pause_queue_async = pause_queue.async_

    @operation
    def resume_queue(self, queue: str) -> Operation[bool]:
        """Let workers fetch a paused ``queue`` again (they are woken at
        once). False when it was not paused."""
        changed = yield from _one(queries.RESUME_QUEUE, "changed", queue=queue)
        return bool(changed)

    resume_queue_async = resume_queue.async_

    # --- reads ---------------------------------------------------------------------------

    @operation
    def list_jobs(
        self,
        id: int | None = None,
        queue: str | None = None,
        task: str | None = None,
        status: str | None = None,
        lock: str | None = None,
        queueing_lock: str | None = None,
        worker_id: int | None = None,
    ) -> Operation[list[Job]]:
        """Jobs matching all the given filters, by id."""
        return _jobs(
            queries.LIST_JOBS,
            id=id,
            queue=queue,
            task=task,
            status=_status_value(status),
            lock=lock,
            queueing_lock=queueing_lock,
            worker_id=worker_id,
        )

    list_jobs_async = list_jobs.async_

    list_queues = _counts_by(queries.LIST_QUEUES, "queue")
    list_queues_async = list_queues.async_
    list_tasks = _counts_by(queries.LIST_TASKS, "task name")
    list_tasks_async = list_tasks.async_
    list_locks = _counts_by(queries.LIST_LOCKS, "lock")
    list_locks_async = list_locks.async_

    @operation
    def list_jobs_to_abort(self, queue: str | None = None) -> Operation[list[int]]:
        """Ids of running jobs whose abort was requested (any worker)."""
        return _ids(queries.LIST_JOBS_TO_ABORT, queue=queue)

    list_jobs_to_abort_async = list_jobs_to_abort.async_

    @operation
    def _get_stalled_jobs(
        self,
        nb_seconds: float | None = None,
        queue: str | None = None,
        task_name: str | None = None,
        seconds_since_heartbeat: float = 30,
    ) -> Operation[list[Job]]:
        """Running jobs whose worker is gone or silent for more than
        ``seconds_since_heartbeat`` (procrastinate_list_jobs_v1).
        ``nb_seconds`` (deprecated): running for longer than that instead."""
        if nb_seconds is None:
            return _jobs(
                queries.STALLED_JOBS,
                queue=queue,
                task=task_name,
                silent_for=seconds_since_heartbeat,
            )
        warnings.warn(
            "get_stalled_jobs(nb_seconds=...) is deprecated: stalled jobs are "
            "found from worker heartbeats",
            DeprecationWarning,
            stacklevel=3,
        )
        return _jobs(
            queries.JOBS_RUNNING_SINCE, nb_seconds=nb_seconds, queue=queue, task=task_name
        )

    get_stalled_jobs = _get_stalled_jobs.async_

    @operation
    def check_connection(self) -> Operation[bool]:
        """True when the database answers and has the procrastinate schema."""
        installed = yield from _one(queries.CHECK_CONNECTION, "installed")
        return bool(installed)

    check_connection_async = check_connection.async_
