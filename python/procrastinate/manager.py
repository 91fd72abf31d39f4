"""JobManager: every job operation of the driver, each one call of the SQL core.

Each operation is declared once, with ``@operation`` (_db.ops), as a generator
of queries (see ``_db.ops.Call``) with one signature and one docstring:
``x(...)`` runs it synchronously and ``x_async = x.async_`` declares the form
that runs it on the event loop.
"""

from __future__ import annotations

import asyncio
import datetime
import warnings
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from procrastinate import connector as connector_module
from procrastinate import exceptions, notifications_3x, tasks, tracing, utils, waiting
from procrastinate import jobs as jobs_module
from procrastinate._db import queries
from procrastinate._db.ops import Operation, call_all, call_none, ids, one, operation, rows
from procrastinate._db.wire import build_outcome, job_object
from procrastinate._db.worker_ops import WorkerOperations

Job = jobs_module.Job
Status = jobs_module.Status
FinishedJob = waiting.FinishedJob
T = TypeVar("T")

#: Jobs deleted per call of procrastinate_remove_old_jobs by delete_old_jobs.
DELETE_OLD_JOBS_BATCH_SIZE = 10_000

#: procrastinate 3.x's name for the index of queueing locks (AlreadyEnqueued's
#: UniqueViolation names it).
QUEUEING_LOCK_CONSTRAINT = exceptions.QUEUEING_LOCK_INDEX

# procrastinate 3.x's names, from here as in 3.x
ANY_QUEUE_CHANNEL = notifications_3x.ANY_QUEUE_CHANNEL
QUEUE_CHANNEL_PREFIX = notifications_3x.QUEUE_CHANNEL_PREFIX
get_channel_for_queues = notifications_3x.get_channel_for_queues
NotificationCallback = notifications_3x.NotificationCallback


def _status_value(status: str | Status | None) -> str | None:
    return status.value if isinstance(status, Status) else status


def _jobs(query: str, /, **arguments: Any) -> Operation[list[Job]]:
    result = yield call_all(query, **arguments)
    return [Job.from_row(row) for row in result]


def _counts_by(query: str, what: str) -> operation[..., list[dict[str, Any]]]:
    """list_queues, list_tasks and list_locks: the same filters, one query each."""

    def list_counts(
        self: JobManager,
        queue: str | None = None,
        task: str | None = None,
        status: str | None = None,
        lock: str | None = None,
    ) -> Operation[list[dict[str, Any]]]:
        return rows(query, queue=queue, task=task, status=_status_value(status), lock=lock)

    list_counts.__doc__ = f"Per {what}: name, jobs_count and the count of each status."
    return operation(list_counts)


class JobManager(WorkerOperations):
    """Every job operation of the driver (app.job_manager): the ones below,
    and the worker's (_db.worker_ops)."""

    # --- deferring -------------------------------------------------------------------

    def _defer(self, objects: list[dict[str, Any]]) -> Operation[list[int]]:
        """The one defer path: job objects in, their ids out (in a span of
        its own when an OpenTelemetry tracer provider is set)."""
        return tracing.defer(objects, self._send_defer)

    def _send_defer(self, objects: list[dict[str, Any]]) -> Operation[list[int]]:
        # Serialised here, before any query: bad arguments write nothing.
        payload = self.connector.dump_json(objects)
        if not objects:
            return []
        return (yield from ids(queries.DEFER_JOBS, jobs=payload))

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
    def defer_job_objects(
        self, objects: list[dict[str, Any]], connection: Any = None
    ) -> Operation[list[int]]:
        """Defer job objects (docs/sql-api.md, as built by job_object) in one
        call, all or nothing; returns their ids. The fast path of
        JobDeferrer: no Job is built. With ``connection`` (a psycopg
        connection of the caller), in that connection's transaction."""
        return self._defer(objects)

    defer_job_objects_async = defer_job_objects.async_

    @operation
    def defer_job(
        self, job: Job, connection: Any = None, *, retry_policy: dict[str, Any] | None = None
    ) -> Operation[Job]:
        """Defer one job; returns it with its id. AlreadyEnqueued when its
        queueing lock is taken. With ``connection`` (a psycopg connection of
        the caller), in that connection's transaction: the job exists once
        it commits."""
        (deferred,) = yield from self._defer_jobs([job], retry_policy)
        return deferred

    defer_job_async = defer_job.async_

    @operation
    def batch_defer_jobs(
        self,
        jobs: list[Job],
        connection: Any = None,
        *,
        retry_policy: dict[str, Any] | None = None,
    ) -> Operation[list[Job]]:
        """Defer many jobs in one call, all or nothing; returns them with
        their ids. ``connection``: as for defer_job."""
        return self._defer_jobs(jobs, retry_policy)

    batch_defer_jobs_async = batch_defer_jobs.async_

    # --- managing jobs -------------------------------------------------------------------

    @operation
    def cancel_job_by_id(
        self,
        job_id: int,
        abort: bool = False,
        delete_job: bool = False,
        connection: Any = None,
    ) -> Operation[bool]:
        """Cancel a waiting job (or delete it), or with ``abort`` ask its
        worker to stop it. False when nothing was done (unknown job, or a
        status that allows neither). With ``connection`` (a psycopg
        connection of the caller), in that connection's transaction."""
        try:
            cancelled = yield from one(
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
        status = yield from one(
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
    def get_job_status(self, job_id: int, connection: Any = None) -> Operation[Status]:
        """The job's status; JobNotFound for an unknown id. With
        ``connection`` (a psycopg connection of the caller), as that
        connection's transaction sees it."""
        status = yield from one(queries.GET_JOB_STATUS, "status", job_id=job_id)
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
            removed = yield from one(
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
        changed = yield from one(queries.PAUSE_QUEUE, "changed", queue=queue)
        return bool(changed)

    pause_queue_async = pause_queue.async_

    @operation
    def resume_queue(self, queue: str) -> Operation[bool]:
        """Let workers fetch a paused ``queue`` again (they are woken at
        once). False when it was not paused."""
        changed = yield from one(queries.RESUME_QUEUE, "changed", queue=queue)
        return bool(changed)

    resume_queue_async = resume_queue.async_

    @operation
    def list_paused_queues(self) -> Operation[list[str]]:
        """Names of the paused queues."""
        rows = yield call_all(queries.PAUSED_QUEUES)
        return [row["queue_name"] for row in rows]

    list_paused_queues_async = list_paused_queues.async_

    # --- concurrency limits (docs/flow-control.md) ---------------------------------------

    @operation
    def list_limits(self) -> Operation[list[dict[str, Any]]]:
        """Every limit with its use (procrastinate_limit_stats): scope
        (queue, task or key), name, concurrency, in_use, waiting, held_back,
        rate, per (seconds) and tokens (starts its rate allows now); the
        concurrency or the rate fields are None for a limit without one."""
        rows = yield call_all(queries.LIST_LIMITS)
        return [dict(row) for row in rows]

    list_limits_async = list_limits.async_

    @operation
    def set_limit(
        self,
        concurrency: int | None = None,
        *,
        queue: str | None = None,
        task: str | None = None,
        limit_key: str | None = None,
        rate: tasks.RateLimitValue | None = None,
    ) -> Operation[None]:
        """At most ``concurrency`` jobs of ``queue``, of ``task`` or with
        ``limit_key`` (exactly one) run at once across all workers, and at
        most ``rate`` of them start per period (``"100/m"``, ``(100, 60)``;
        docs/flow-control.md); what is not given is left as it is.
        ValueError for a malformed rate, InvalidJobDefinition (PT001) for
        another bad limit."""
        checked = tasks.check_rate_limit(rate, "set_limit")
        yield call_none(
            queries.SET_LIMIT, queue=queue, task=task, limit_key=limit_key,
            concurrency=concurrency,
            rate=None if checked is None else checked.rate,
            per=None if checked is None else checked.per,
        )

    set_limit_async = set_limit.async_

    @operation
    def remove_limit(
        self, *, queue: str | None = None, task: str | None = None, limit_key: str | None = None
    ) -> Operation[None]:
        """Remove the limit of ``queue``, ``task`` or ``limit_key`` (exactly
        one). LimitNotFound when there is none."""
        yield call_none(queries.REMOVE_LIMIT, queue=queue, task=task, limit_key=limit_key)

    remove_limit_async = remove_limit.async_

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
        return ids(queries.LIST_JOBS_TO_ABORT, queue=queue)

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
        installed = yield from one(queries.CHECK_CONNECTION, "installed")
        return bool(installed)

    check_connection_async = check_connection.async_

    # --- procrastinate 3.x's worker protocol (for a worker of your own) -------------
    # Async, with 3.x's names and arguments, over the calls our worker makes.

    async def register_worker(
        self, name: str | None = None, queues: Iterable[str] | None = None, concurrency: int = 1
    ) -> int:
        """Register a worker; returns its id (its lease is the database's
        stalled_worker_timeout: renew it with update_heartbeat)."""
        return await self.register_worker_async(name, queues, concurrency)

    async def update_heartbeat(self, worker_id: int) -> None:
        await self.heartbeat_async(worker_id)

    async def unregister_worker(self, worker_id: int) -> None:
        """Remove the worker; the jobs it still held go back to the queue."""
        await self.unregister_worker_async(worker_id)

    async def fetch_job(
        self, queues: Iterable[str] | None, worker_id: int | None = None
    ) -> Job | None:
        """Claim one runnable job of ``queues`` (None: all) for
        ``worker_id``; None when there is none."""
        fetched = await self.fetch_jobs_async(
            worker_id, None if queues is None else list(queues), 1
        )
        return fetched[0] if fetched else None

    async def finish_job(self, job: Job, status: Status, delete_job: bool) -> None:
        """Report the end of a job fetched with fetch_job: ``succeeded``,
        ``failed`` (retried if the job's policy allows) or ``aborted``."""
        (result,) = await self.finish_jobs_async(
            job.worker_id,
            [build_outcome(job, status)],
            "always" if delete_job else "never",
        )
        if not result["accepted"]:
            raise exceptions.InvalidJobStatus(
                f"job {job.id} was not finished: {result['reason']} (not held by worker "
                f"{job.worker_id} at attempt {job.attempts})"
            )

    async def finish_job_by_id_async(self, job_id: int, status: Status, delete_job: bool) -> None:
        """finish_job for a job known by its id, as its holder sees it."""
        found = await self.list_jobs_async(id=job_id)
        if not found:
            raise exceptions.JobNotFound(f"job {job_id} does not exist")
        await self.finish_job(found[0], status, delete_job)

    # --- results and waiting (docs/results.md) ------------------------------------------

    @operation
    def job_results(self, job_ids: Iterable[int]) -> Operation[list[dict[str, Any]]]:
        """How each job stands, one dict per job that exists and that this
        login may see: job_id, status, attempts, finished_at, store_result,
        result, result_error, error_message, error_types, error_traceback."""
        return rows(queries.JOB_RESULTS, job_ids=[int(job_id) for job_id in job_ids])

    job_results_async = job_results.async_

    async def wait_for_job_async(self, job_id: int, timeout: float | None = None) -> FinishedJob:
        """Wait until the job ends; returns it (FinishedJob: status, result)
        when it succeeded. Raises JobFailed (the task's error type, message
        and traceback) when it failed, JobCancelled when it was cancelled or
        aborted, JobNotFound when it does not exist (or was deleted), and
        WaitTimeout after ``timeout`` seconds (the job goes on). The end of
        a job deferred with store_result is announced by the database; other
        jobs are looked at every second. All the waits of a process share
        one listening connection: ``asyncio.as_completed`` over many waits
        is cheap."""
        return await waiting.waiter(self).wait(int(job_id), timeout)

    async def wait_for_jobs_async(
        self, job_ids: Iterable[int], timeout: float | None = None
    ) -> list[FinishedJob | BaseException]:
        """Wait until every job ends (or ``timeout`` passes); one entry per
        id, in order: the FinishedJob, or the exception its wait_for_job_async
        raised."""
        return await waiting.wait_many(self, job_ids, timeout)

    def wait_for_job(self, job_id: int, timeout: float | None = None) -> FinishedJob:
        """wait_for_job_async, from synchronous code."""
        return self._run_wait(lambda manager: manager.wait_for_job_async(job_id, timeout))

    def wait_for_jobs(
        self, job_ids: Iterable[int], timeout: float | None = None
    ) -> list[FinishedJob | BaseException]:
        """wait_for_jobs_async, from synchronous code."""
        ids = list(job_ids)
        return self._run_wait(lambda manager: manager.wait_for_jobs_async(ids, timeout))

    def _run_wait(self, wait: Callable[[JobManager], Coroutine[Any, Any, T]]) -> T:
        """Run a wait from synchronous code: on the loop of a connector open
        there, else on a loop of its own (a psycopg connector gets a
        twin opened on that loop, for the listening connection)."""
        connector = self.connector
        if isinstance(connector, connector_module.BaseAsyncConnector) and connector.is_open_async:
            return connector.run_sync(wait(self))
        if utils.running_loop() is not None:
            raise exceptions.SyncCallInEventLoop(
                "wait_for_job blocks: in async code, await wait_for_job_async"
            )

        async def on_own_loop() -> T:
            from procrastinate import psycopg_connector

            twin = psycopg_connector.async_twin(connector, min_size=1, max_size=2)
            if twin is None:
                return await wait(self)
            await twin.open_async()
            try:
                return await wait(JobManager(connector=twin))
            finally:
                await twin.close_async()

        return asyncio.run(on_own_loop())

    async def listen_for_jobs(
        self,
        *,
        on_notification: NotificationCallback,
        queues: Iterable[str] | None = None,
    ) -> None:
        """Listen to the database's notifications until cancelled, calling
        (and awaiting, if needed) ``on_notification(channel=...,
        notification=...)`` as procrastinate 3.x did: ``{"type":
        "job_inserted", "job_id": None}`` when jobs became available on one
        of ``queues`` (None: any queue), ``{"type": "abort_job_requested",
        "job_id": id}`` when the abort of a running job of those queues was
        requested; ``channel`` is 3.x's (get_channel_for_queues).

        Over listen_for_jobs_async, whose payloads name queues and jobs per
        statement (docs/sql-api.md): a ``job_available`` payload becomes one
        notification per listened queue it names (one on the any-queue
        channel without ``queues``; with ``"queues": null``, "some queue",
        one per listened queue), with no job id. An ``abort_requested``
        payload is confirmed in the database, as our worker does
        (list_jobs_to_abort_async, per listened queue): one notification per
        running job of those queues whose abort is pending and which the
        payload names (every such job when it names none). A notification
        is a hint: a forged or stale one at worst wakes the caller.

        A lost connection is re-established; as notifications sent
        meanwhile are lost, the callback then gets, once LISTEN is back in
        place, a ``job_inserted`` per listened channel and an
        ``abort_job_requested`` per pending abort of its queues (a caller
        that polls as well, as 3.x's worker does, loses nothing either way).

        Differences from 3.x: a notification per statement and queue, not
        per job, without job id; the catch-up after a reconnection. A
        failing callback is logged, and listening goes on. Connectors that
        cannot LISTEN (DjangoConnector) raise ConnectorException."""
        await notifications_3x.listen_as_3x(self, on_notification, queues)

    async def prune_stalled_workers(self, seconds_since_heartbeat: float) -> list[int]:
        """Remove the workers that have shown no sign of life (heartbeat,
        fetch or finish) for longer than ``seconds_since_heartbeat`` seconds
        and whose lease ran out, taking back the jobs they held; returns
        their ids.

        How procrastinate 3.x's pruning maps to our leases
        (docs/reliability.md): a worker holds its jobs under a lease, and
        nothing may be taken from it before the lease runs out. So a worker
        is pruned when both hold: silent for longer than the argument (which
        narrows the pruning, as in 3.x) and its lease ran out (a floor: an
        argument shorter than a worker's lease never cuts that lease short,
        where 3.x would have removed a live worker). Its jobs do not stay in
        doing without a worker, as 3.x left them for get_stalled_jobs and
        retry_job: the database's rescue takes them back at once (todo, the
        lost run counted as an attempt; failed after max_rescues rescues or
        when out of attempts; aborted when an abort was pending).

        Over existing calls: get_stalled_jobs(seconds_since_heartbeat=...)
        finds the workers silent that long that hold running jobs; when there
        is one, the operator's rescue, rescue_stalled_jobs_async(None), runs,
        and the workers whose jobs it took back are returned. The rescue is
        the database's, all or nothing: it also takes back, without listing
        them here, any other worker whose lease ran out (dead by the
        database's rules: the live workers' heartbeat would rescue it
        within seconds anyway), and removes dead workers that hold no job.
        A silent worker holding no job is never listed (no SQL function
        lists workers). Being an operator's call, it needs a trusted
        session (the schema owner, or the procrastinate_operator role): a
        worker login gets ConnectorException (SQLSTATE 42501)."""
        silent = await self.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat)
        holders = {job.id: job.worker_id for job in silent if job.worker_id is not None}
        if not holders:
            return []
        rescued = await self.rescue_stalled_jobs_async(None)
        return sorted({holders[row["job_id"]] for row in rescued if row["job_id"] in holders})

