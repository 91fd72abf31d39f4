"""JobManager: every job operation of the driver, each one call of the SQL core.

Each operation is written once, as a generator of queries (see
``connector.Call``); the public ``x_async`` method runs it on the event loop,
the plain ``x`` method runs the same generator synchronously.
"""

from __future__ import annotations

import datetime
import inspect
import json
import logging
import os
import socket
import traceback
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from procrastinate import connector as connector_module
from procrastinate import exceptions, queries, retry
from procrastinate import jobs as jobs_module
from procrastinate.connector import Operation, call_all, call_one

logger = logging.getLogger(__name__)

Job = jobs_module.Job
Status = jobs_module.Status

#: Jobs deleted per call of procrastinate_remove_old_jobs by delete_old_jobs.
DELETE_OLD_JOBS_BATCH_SIZE = 10_000


def job_object(job: Job, retry_policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON job object of docs/sql-api.md for ``job``; None values are
    left out (the SQL defaults apply). A relative ``scheduled_in`` among the
    extra keys wins over the job's ``scheduled_at`` (an estimate)."""
    scheduled_at = job.scheduled_at.isoformat() if job.scheduled_at else None
    if retry_policy and "scheduled_in" in retry_policy:
        scheduled_at = None
    values = {
        "task_name": job.task_name,
        "args": job.task_kwargs,
        "queue_name": job.queue,
        "priority": job.priority,
        "lock": job.lock,
        "queueing_lock": job.queueing_lock,
        "scheduled_at": scheduled_at,
        **(retry_policy or {}),
    }
    return {key: value for key, value in values.items() if value is not None}


def error_message(exception: BaseException) -> str:
    """The exception as one message for an outcome. jsonb refuses the NUL
    character (SQLSTATE 22P05): it is escaped, so that no message can make
    the database refuse a batch of outcomes."""
    text = "".join(traceback.format_exception_only(type(exception), exception))
    return text.strip().replace("\x00", "\\x00")


def build_outcome(
    job: Job,
    status: Status | str,
    *,
    exception: BaseException | None = None,
    retry_decision: dict[str, Any] | bool | None = None,
    interrupted: bool = False,
) -> dict[str, Any]:
    """An outcome for finish_jobs_async: ``status`` is succeeded, failed or
    aborted; ``exception`` the error of a failure; ``retry_decision`` None
    (the job's policy decides), False (never retry) or the dict of
    ``retry.retry_decision_to_outcome`` (explicit decision); ``interrupted``
    an aborted run cut short by its worker's shutdown, which the database
    retries like a failure when the policy (or the decision) allows."""
    outcome: dict[str, Any] = {
        "id": job.id,
        "attempt": job.attempts,
        "status": Status(status).value,
    }
    if interrupted:
        outcome["interrupted"] = True
    if exception is not None:
        outcome["error"] = {
            "types": retry.exception_type_names(exception),
            "message": error_message(exception),
        }
    if retry_decision is not None:
        outcome["retry"] = retry_decision
    return outcome


def decode_fetched_args(
    row: dict[str, Any], json_loads: Callable[[Any], Any] | None, loads_bytes: bool
) -> str | None:
    """Decode the args of a fetched row in place (FETCH_JOBS sends them as
    text). None when they decode to a JSON object; else why not, and the
    row's args are left empty: that job fails, the others of the fetch run.
    ``loads_bytes``: the connector's ``json_loads`` gets bytes (as psycopg 3
    gives a jsonb value), not str."""
    raw = row["args"]
    try:
        if raw is None:
            args: Any = {}
        elif not isinstance(raw, (str, bytes)):
            args = raw  # a connector that decoded them already
        elif json_loads is None:
            args = json.loads(raw)
        else:
            args = json_loads(raw.encode() if loads_bytes and isinstance(raw, str) else raw)
        if not isinstance(args, dict):
            raise TypeError(
                f"they decode to {type(args).__name__}, not to a JSON object (dict)"
            )
    except Exception as exc:  # noqa: BLE001 - any decoder error fails that job only
        row["args"] = {}
        return (
            f"Could not decode the args of job {row['id']} (task {row['task_name']!r}): "
            f"{error_message(exc)}"
        )
    row["args"] = args
    return None


def _loads_bytes(connector: connector_module.BaseConnector) -> bool:
    """Whether the connector's json_loads was given bytes by its driver:
    psycopg 3 passes a jsonb value as bytes (psycopg2 and Django as str)."""
    try:
        from procrastinate import sync_psycopg_connector
    except ImportError:  # pragma: no cover - psycopg 3 not installed
        return False
    return isinstance(connector, sync_psycopg_connector.PsycopgAdapter)


def _delete_jobs_value(delete_jobs: str | jobs_module.DeleteJobCondition | None) -> str:
    if delete_jobs is None:
        return jobs_module.DeleteJobCondition.NEVER.value
    return jobs_module.DeleteJobCondition(delete_jobs).value


class JobManager:
    def __init__(self, connector: connector_module.BaseConnector):
        self.connector = connector

    # --- running operations ------------------------------------------------------

    def _schema_error(self, error: exceptions.ConnectorException) -> Exception:
        if getattr(error, "sqlstate", None) in exceptions.SCHEMA_MISSING_SQLSTATES:
            return exceptions.SchemaNotInstalled(
                f"{error} (is the procrastinate schema installed and up to date?)"
            )
        return error

    def _sync(self, operation: Operation[Any], *, transaction: bool = False) -> Any:
        try:
            return connector_module.run_operation_sync(
                self.connector, operation, transaction=transaction
            )
        except exceptions.ConnectorException as exc:
            error = self._schema_error(exc)
            if error is exc:
                raise
            raise error from exc

    async def _async(
        self, operation: Operation[Any], *, transaction: bool = False
    ) -> Any:
        try:
            return await connector_module.run_operation_async(
                self.connector, operation, transaction=transaction
            )
        except exceptions.ConnectorException as exc:
            error = self._schema_error(exc)
            if error is exc:
                raise
            raise error from exc

    # --- deferring -------------------------------------------------------------------

    def _defer(self, jobs: list[Job], retry_policy: dict[str, Any] | None) -> Operation:
        # Serialised here, before any query: bad arguments write nothing.
        payload = self.connector.dump_json(
            [job_object(job, retry_policy) for job in jobs]
        )
        if not jobs:
            return []
        rows = yield call_all(queries.DEFER_JOBS, jobs=payload)
        return [
            job.evolve(id=row["id"], status=Status.TODO.value)
            for job, row in zip(jobs, rows, strict=True)
        ]

    def _defer_objects(self, objects: list[dict[str, Any]]) -> Operation:
        payload = self.connector.dump_json(objects)
        if not objects:
            return []
        rows = yield call_all(queries.DEFER_JOBS, jobs=payload)
        return [row["id"] for row in rows]

    async def defer_job_objects_async(self, objects: list[dict[str, Any]]) -> list[int]:
        """Defer job objects (docs/sql-api.md, as built by job_object) in one
        call, all or nothing; returns their ids. The fast path of
        JobDeferrer: no Job is built."""
        return await self._async(self._defer_objects(objects))

    def defer_job_objects(self, objects: list[dict[str, Any]]) -> list[int]:
        return self._sync(self._defer_objects(objects))

    async def defer_job_async(
        self, job: Job, *, retry_policy: dict[str, Any] | None = None
    ) -> Job:
        """Defer one job; returns it with its id. AlreadyEnqueued when its
        queueing lock is taken."""
        (deferred,) = await self._async(self._defer([job], retry_policy))
        return deferred

    def defer_job(self, job: Job, *, retry_policy: dict[str, Any] | None = None) -> Job:
        (deferred,) = self._sync(self._defer([job], retry_policy))
        return deferred

    async def batch_defer_jobs_async(
        self, jobs: list[Job], *, retry_policy: dict[str, Any] | None = None
    ) -> list[Job]:
        """Defer many jobs in one call, all or nothing."""
        return await self._async(self._defer(list(jobs), retry_policy))

    def batch_defer_jobs(
        self, jobs: list[Job], *, retry_policy: dict[str, Any] | None = None
    ) -> list[Job]:
        return self._sync(self._defer(list(jobs), retry_policy))

    def _defer_periodic(
        self,
        job: Job,
        periodic_id: str,
        defer_timestamp: int,
        retry_policy: dict[str, Any] | None,
    ) -> Operation:
        if job.task_kwargs.get("timestamp") != defer_timestamp:
            raise exceptions.InvalidTimestamp
        payload = self.connector.dump_json(job_object(job, retry_policy))
        row = yield call_one(
            queries.DEFER_PERIODIC_JOB,
            task_name=job.task_name,
            periodic_id=periodic_id,
            defer_timestamp=defer_timestamp,
            job=payload,
        )
        return row["id"]

    async def defer_periodic_job(
        self,
        job: Job,
        periodic_id: str,
        defer_timestamp: int,
        *,
        retry_policy: dict[str, Any] | None = None,
    ) -> int | None:
        """Defer the job of one periodic tick; None when that tick was
        already deferred (by this or another worker)."""
        return await self._async(
            self._defer_periodic(job, periodic_id, defer_timestamp, retry_policy)
        )

    def _last_periodic_ticks(self) -> Operation:
        rows = yield call_all(queries.LAST_PERIODIC_TICKS)
        return [dict(row) for row in rows]

    async def last_periodic_ticks_async(self) -> list[dict[str, Any]]:
        """The latest deferred tick of each periodic task (task_name,
        periodic_id, defer_timestamp)."""
        return await self._async(self._last_periodic_ticks())

    # --- worker-facing -----------------------------------------------------------------

    def _fetch(
        self,
        worker_id: int | None,
        queues: Iterable[str] | None,
        limit: int,
        claim_token: uuid.UUID | None,
        resume: bool,
    ) -> Operation:
        rows = yield call_all(
            queries.FETCH_JOBS,
            worker_id=worker_id,
            queues=None if queues is None else list(queues),
            limit=limit,
            claim_token=None if claim_token is None else str(claim_token),
            resume=resume,
        )
        loads, loads_bytes = self.connector.json_loads, _loads_bytes(self.connector)
        fetched = []
        for row in rows:
            problem = decode_fetched_args(row, loads, loads_bytes)
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

    async def fetch_jobs_async(
        self,
        worker_id: int | None,
        queues: list[str] | None,
        limit: int,
        *,
        claim_token: uuid.UUID | None = None,
        resume: bool = False,
    ) -> list[Job]:
        """Claim up to ``limit`` runnable jobs of ``queues`` (None: all)
        under ``claim_token``. A job whose args cannot be decoded comes back
        with ``decode_error`` set (and empty args), for the worker to fail.
        ``resume``: this call retries one whose answer
        was lost, with the same token: the jobs that call claimed come back
        first (the database decides, procrastinate_fetch_jobs_v2)."""
        return await self._async(
            self._fetch(worker_id, queues, limit, claim_token, resume)
        )

    def _finish(
        self, worker_id: int | None, outcomes: list[dict[str, Any]], delete_jobs: Any
    ) -> Operation:
        payload = self.connector.dump_json(list(outcomes))
        rows = yield call_all(
            queries.FINISH_JOBS,
            worker_id=worker_id,
            outcomes=payload,
            delete_jobs=_delete_jobs_value(delete_jobs),
        )
        return [dict(row) for row in rows]

    async def finish_jobs_async(
        self,
        worker_id: int | None,
        outcomes: list[dict[str, Any]],
        delete_jobs: str | jobs_module.DeleteJobCondition | None = "never",
    ) -> list[dict[str, Any]]:
        """Report outcomes (see build_outcome); one dict per outcome with
        job_id, accepted, status, scheduled_at, reason."""
        if not outcomes:
            return []
        return await self._async(self._finish(worker_id, outcomes, delete_jobs))

    def _register_worker(
        self,
        name: str | None,
        queues: Any,
        concurrency: int,
        stalled_after: float | None,
    ) -> Operation:
        row = yield call_one(
            queries.REGISTER_WORKER,
            name=name,
            queues=None if queues is None else list(queues),
            concurrency=concurrency,
            host=socket.gethostname(),
            pid=os.getpid(),
            stalled_after=stalled_after,
        )
        return row["worker_id"]

    async def register_worker_async(
        self,
        name: str | None,
        queues: Iterable[str] | None,
        concurrency: int,
        stalled_after: float | None = None,
    ) -> int:
        """Register a worker; ``stalled_after`` is its lease, the seconds of
        silence after which its jobs may be rescued (None: the database's
        setting procrastinate_settings.stalled_worker_timeout)."""
        return await self._async(
            self._register_worker(name, queues, concurrency, stalled_after)
        )

    def _heartbeat(self, worker_id: int) -> Operation:
        row = yield call_one(queries.HEARTBEAT, worker_id=worker_id)
        return row["lease"]

    async def heartbeat_async(self, worker_id: int) -> float | None:
        """Renew the worker's lease; returns its length in seconds, or None
        when the worker's row is gone: stop reporting under that id."""
        return await self._async(self._heartbeat(worker_id))

    def _unregister_worker(self, worker_id: int) -> Operation:
        row = yield call_one(queries.UNREGISTER_WORKER, worker_id=worker_id)
        return row["released"]

    async def unregister_worker_async(self, worker_id: int) -> int:
        """Remove the worker; returns how many held jobs went back to the queue."""
        return await self._async(self._unregister_worker(worker_id))

    def _release_jobs(self, worker_id: int, job_ids: list[int]) -> Operation:
        rows = yield call_all(queries.RELEASE_JOBS, worker_id=worker_id, job_ids=job_ids)
        return [row["id"] for row in rows]

    async def release_jobs_async(self, worker_id: int, job_ids: list[int]) -> list[int]:
        """Give back jobs claimed ahead and never started (back to todo, no
        attempt counted; aborted if their abort was requested); returns
        the ids released."""
        if not job_ids:
            return []
        return await self._async(self._release_jobs(worker_id, job_ids))

    def _jobs_to_abort(self, worker_id: int) -> Operation:
        rows = yield call_all(queries.JOBS_TO_ABORT, worker_id=worker_id)
        return [row["id"] for row in rows]

    async def jobs_to_abort_async(self, worker_id: int) -> list[int]:
        return await self._async(self._jobs_to_abort(worker_id))

    def _rescue(self, worker_id: int | None) -> Operation:
        rows = yield call_all(queries.RESCUE_STALLED_JOBS, worker_id=worker_id)
        return [dict(row) for row in rows]

    async def rescue_stalled_jobs_async(self, worker_id: int | None) -> list[dict[str, Any]]:
        """Take back the jobs of workers silent for longer than their lease;
        returns ``{"job_id", "status"}`` per rescued job. The database
        decides everything: the leases, the rescue limit, and whether
        ``worker_id`` may rescue yet (not within a lease of a gap in its own
        heartbeat longer than its lease).
        None: an operator's rescue, when no worker is alive."""
        return await self._async(self._rescue(worker_id))

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

    def _cancel(self, job_id: int, abort: bool, delete_job: bool) -> Operation:
        try:
            row = yield call_one(
                queries.CANCEL_JOB, job_id=job_id, abort=abort, delete_job=delete_job
            )
        except exceptions.JobNotFound:
            return False
        return bool(row["cancelled"])

    def cancel_job_by_id(
        self, job_id: int, abort: bool = False, delete_job: bool = False
    ) -> bool:
        """Cancel a waiting job (or delete it), or with ``abort`` ask its
        worker to stop it. False when nothing was done (unknown job, or a
        status that allows neither)."""
        return self._sync(self._cancel(job_id, abort, delete_job))

    async def cancel_job_by_id_async(
        self, job_id: int, abort: bool = False, delete_job: bool = False
    ) -> bool:
        return await self._async(self._cancel(job_id, abort, delete_job))

    def _retry(
        self, job_id: int, retry_at: Any, priority: Any, queue: Any, lock: Any
    ) -> Operation:
        row = yield call_one(
            queries.RETRY_JOB,
            job_id=job_id,
            retry_at=retry_at,
            priority=priority,
            queue=queue,
            lock=lock,
        )
        return Status(row["status"])

    def retry_job_by_id(
        self,
        job_id: int,
        retry_at: datetime.datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> Status:
        """Put a failed (or running) job back in the queue at ``retry_at``
        (None: now). Returns the new status; JobNotFound / InvalidJobStatus."""
        return self._sync(self._retry(job_id, retry_at, priority, queue, lock))

    async def retry_job_by_id_async(
        self,
        job_id: int,
        retry_at: datetime.datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> Status:
        return await self._async(self._retry(job_id, retry_at, priority, queue, lock))

    async def retry_job(
        self,
        job: Job,
        retry_at: datetime.datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> Status:
        assert job.id is not None
        return await self.retry_job_by_id_async(job.id, retry_at, priority, queue, lock)

    def _status(self, job_id: int) -> Operation:
        row = yield call_one(queries.GET_JOB_STATUS, job_id=job_id)
        return Status(row["status"])

    def get_job_status(self, job_id: int) -> Status:
        """The job's status; JobNotFound for an unknown id."""
        return self._sync(self._status(job_id))

    async def get_job_status_async(self, job_id: int) -> Status:
        return await self._async(self._status(job_id))

    def _delete_old(
        self,
        nb_hours: float,
        queue: str | None,
        statuses: list[str],
        max_jobs: int | None,
    ) -> Operation:
        row = yield call_one(
            queries.REMOVE_OLD_JOBS,
            max_hours=nb_hours,
            queue=queue,
            statuses=statuses,
            max_jobs=max_jobs,
        )
        return row["removed"]

    async def delete_old_jobs(
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
    ) -> int:
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
            removed = await self._async(
                self._delete_old(nb_hours, queue, statuses, batch_size)
            )
            total += removed
            if batch_size is None or removed < batch_size:
                return total

    delete_old_jobs_async = delete_old_jobs

    # --- queues --------------------------------------------------------------------------

    def _pause(self, queue: str, pause: bool) -> Operation:
        query = queries.PAUSE_QUEUE if pause else queries.RESUME_QUEUE
        row = yield call_one(query, queue=queue)
        return bool(row["changed"])

    def pause_queue(self, queue: str) -> bool:
        """Stop workers from fetching ``queue`` (running jobs finish). False
        when it was already paused."""
        return self._sync(self._pause(queue, True))

    async def pause_queue_async(self, queue: str) -> bool:
        return await self._async(self._pause(queue, True))

    def resume_queue(self, queue: str) -> bool:
        """Let workers fetch a paused ``queue`` again (they are woken at
        once). False when it was not paused."""
        return self._sync(self._pause(queue, False))

    async def resume_queue_async(self, queue: str) -> bool:
        return await self._async(self._pause(queue, False))

    # --- reads ---------------------------------------------------------------------------

    def _list_jobs(self, **filters: Any) -> Operation:
        rows = yield call_all(queries.LIST_JOBS, **filters)
        return [Job.from_row(row) for row in rows]

    def list_jobs(
        self,
        id: int | None = None,
        queue: str | None = None,
        task: str | None = None,
        status: str | None = None,
        lock: str | None = None,
        queueing_lock: str | None = None,
        worker_id: int | None = None,
    ) -> list[Job]:
        """Jobs matching all the given filters, by id."""
        return self._sync(
            self._list_jobs(
                id=id,
                queue=queue,
                task=task,
                status=_status_value(status),
                lock=lock,
                queueing_lock=queueing_lock,
                worker_id=worker_id,
            )
        )

    async def list_jobs_async(
        self,
        id: int | None = None,
        queue: str | None = None,
        task: str | None = None,
        status: str | None = None,
        lock: str | None = None,
        queueing_lock: str | None = None,
        worker_id: int | None = None,
    ) -> list[Job]:
        return await self._async(
            self._list_jobs(
                id=id,
                queue=queue,
                task=task,
                status=_status_value(status),
                lock=lock,
                queueing_lock=queueing_lock,
                worker_id=worker_id,
            )
        )

    def _counts(
        self, query: str, queue: Any, task: Any, status: Any, lock: Any
    ) -> Operation:
        rows = yield call_all(
            query, queue=queue, task=task, status=_status_value(status), lock=lock
        )
        return [dict(row) for row in rows]

    def list_queues(
        self,
        queue: str | None = None,
        task: str | None = None,
        status: str | None = None,
        lock: str | None = None,
    ) -> list[dict[str, Any]]:
        """Per queue: name, jobs_count and the count of each status."""
        return self._sync(self._counts(queries.LIST_QUEUES, queue, task, status, lock))

    async def list_queues_async(
        self,
        queue: str | None = None,
        task: str | None = None,
        status: str | None = None,
        lock: str | None = None,
    ) -> list[dict[str, Any]]:
        return await self._async(
            self._counts(queries.LIST_QUEUES, queue, task, status, lock)
        )

    def list_tasks(
        self,
        queue: str | None = None,
        task: str | None = None,
        status: str | None = None,
        lock: str | None = None,
    ) -> list[dict[str, Any]]:
        """Per task name: name, jobs_count and the count of each status."""
        return self._sync(self._counts(queries.LIST_TASKS, queue, task, status, lock))

    async def list_tasks_async(
        self,
        queue: str | None = None,
        task: str | None = None,
        status: str | None = None,
        lock: str | None = None,
    ) -> list[dict[str, Any]]:
        return await self._async(
            self._counts(queries.LIST_TASKS, queue, task, status, lock)
        )

    def list_locks(
        self,
        queue: str | None = None,
        task: str | None = None,
        status: str | None = None,
        lock: str | None = None,
    ) -> list[dict[str, Any]]:
        """Per lock: name, jobs_count and the count of each status."""
        return self._sync(self._counts(queries.LIST_LOCKS, queue, task, status, lock))

    async def list_locks_async(
        self,
        queue: str | None = None,
        task: str | None = None,
        status: str | None = None,
        lock: str | None = None,
    ) -> list[dict[str, Any]]:
        return await self._async(
            self._counts(queries.LIST_LOCKS, queue, task, status, lock)
        )

    def _to_abort(self, queue: str | None) -> Operation:
        rows = yield call_all(queries.LIST_JOBS_TO_ABORT, queue=queue)
        return [row["id"] for row in rows]

    def list_jobs_to_abort(self, queue: str | None = None) -> list[int]:
        """Ids of running jobs whose abort was requested (any worker)."""
        return self._sync(self._to_abort(queue))

    async def list_jobs_to_abort_async(self, queue: str | None = None) -> list[int]:
        return await self._async(self._to_abort(queue))

    def _stalled(
        self,
        nb_seconds: float | None,
        queue: Any,
        task_name: Any,
        seconds_since_heartbeat: float,
    ) -> Operation:
        if nb_seconds is not None:
            rows = yield call_all(
                queries.JOBS_RUNNING_SINCE,
                nb_seconds=nb_seconds,
                queue=queue,
                task=task_name,
            )
        else:
            rows = yield call_all(
                queries.STALLED_JOBS,
                queue=queue,
                task=task_name,
                silent_for=seconds_since_heartbeat,
            )
        return [Job.from_row(row) for row in rows]

    async def get_stalled_jobs(
        self,
        nb_seconds: float | None = None,
        queue: str | None = None,
        task_name: str | None = None,
        seconds_since_heartbeat: float = 30,
    ) -> list[Job]:
        """Running jobs whose worker is gone or silent for more than
        ``seconds_since_heartbeat`` (procrastinate_list_jobs_v1).
        ``nb_seconds`` (deprecated): running for longer than that instead."""
        if nb_seconds is not None:
            warnings.warn(
                "get_stalled_jobs(nb_seconds=...) is deprecated: stalled jobs are "
                "found from worker heartbeats",
                DeprecationWarning,
                stacklevel=2,
            )
        return await self._async(
            self._stalled(nb_seconds, queue, task_name, seconds_since_heartbeat)
        )

    def _check_connection(self) -> Operation:
        row = yield call_one(queries.CHECK_CONNECTION)
        return bool(row["installed"])

    def check_connection(self) -> bool:
        """True when the database answers and has the procrastinate schema."""
        return self._sync(self._check_connection())

    async def check_connection_async(self) -> bool:
        return await self._async(self._check_connection())


def _status_value(status: str | Status | None) -> str | None:
    return status.value if isinstance(status, Status) else status
