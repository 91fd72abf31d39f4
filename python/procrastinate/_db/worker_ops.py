"""The operations a worker runs, each one call of the SQL core: claim,
report, register and renew its lease, give jobs back, find aborts, rescue,
listen, and defer periodic ticks. JobManager inherits them (procrastinate
code reaches them as ``app.job_manager.fetch_jobs_async(...)``); asynchronous
only, as a worker runs on an event loop."""

from __future__ import annotations

import inspect
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from procrastinate import exceptions
from procrastinate import jobs as jobs_module
from procrastinate._db import queries
from procrastinate._db.ops import (
    Operation,
    Operations,
    call_all,
    call_none,
    call_one,
    ids,
    one,
    operation,
    rows,
)
from procrastinate._db.wire import decode_fetched_args, decode_headers, job_object, loads_bytes

# The name of the records when JobManager held these: what log filters know.
logger = logging.getLogger("procrastinate.manager")

Job = jobs_module.Job


def _delete_jobs_value(delete_jobs: str | jobs_module.DeleteJobCondition | None) -> str:
    if delete_jobs is None:
        return jobs_module.DeleteJobCondition.NEVER.value
    return jobs_module.DeleteJobCondition(delete_jobs).value


#: SQLSTATE undefined_function: the database lacks a function of this
#: release (this code runs between the two phases of an upgrade, its post
#: migration pending); the call changed nothing before failing.
UNDEFINED_FUNCTION = "42883"


def _function_missing(exc: BaseException) -> bool:
    return getattr(exc, "sqlstate", None) == UNDEFINED_FUNCTION


#: The claims, newest first: a worker whose database lacks one (its post
#: migration pending) falls back to the next.
CLAIMS = (
    queries.FETCH_JOBS,
    queries.FETCH_JOBS_BEFORE_TIMEOUTS,
    queries.FETCH_JOBS_BEFORE_LIMITS,
    queries.FETCH_JOBS_BEFORE_HEADERS,
    queries.FETCH_JOBS_BEFORE_RESULTS,
)


class WorkerOperations(Operations):
    #: The claim the worker calls (an older one of CLAIMS once the database
    #: turned out not to have the newest yet).
    _claim_query: str = queries.FETCH_JOBS

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
        return one(
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
        return rows(queries.LAST_PERIODIC_TICKS)

    last_periodic_ticks_async = _last_periodic_ticks.async_


    @operation
    def _fetch_jobs(
        self,
        worker_id: int | None,
        queues: list[str] | None,
        limit: int,
        *,
        claim_token: uuid.UUID | None = None,
        resume: bool = False,
        slots: int | None = None,
    ) -> Operation[list[Job]]:
        """Claim up to ``limit`` runnable jobs of ``queues`` (None: all)
        under ``claim_token``; ``slots``: how many of them start at once (the
        rest waits in the prefetch buffer; None: all), as a job under a
        concurrency limit is claimed only to start at once. A job whose args
        cannot be decoded comes back
        with ``decode_error`` set (and empty args), for the worker to fail.
        ``resume``: this call retries one whose answer
        was lost, with the same token: the jobs that call claimed come back
        first (the database decides, procrastinate_fetch_jobs_v3)."""
        arguments = {
            "worker_id": worker_id,
            "queues": None if queues is None else list(queues),
            "limit": limit,
            "claim_token": None if claim_token is None else str(claim_token),
            "resume": resume,
            "slots": None if slots is None else max(slots, 0),
        }
        while True:
            query = self._claim_query
            try:
                rows = yield call_all(query, **arguments)
                break
            except exceptions.ConnectorException as exc:
                # A post migration pending (this code runs between the two
                # phases of an upgrade): the previous release's claim; the
                # missing function claimed nothing before failing here.
                position = CLAIMS.index(query)
                if position + 1 == len(CLAIMS) or not _function_missing(exc):
                    raise
                self._claim_query = CLAIMS[position + 1]
        loads, as_bytes = self.connector.json_loads, loads_bytes(self.connector)
        fetched = []
        for row in rows:
            if row.get("headers") is not None:
                row["headers"] = decode_headers(row["headers"])
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
            yield from rows(
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
        return one(
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
    def _register_limits(
        self,
        task_limits: dict[str, int],
        queue_limits: dict[str, int],
        task_rates: dict[str, tuple[int, float]] | None = None,
        queue_rates: dict[str, tuple[int, float]] | None = None,
    ) -> Operation[str]:
        """Set the limits written in the code (those already in place as
        given are left alone): concurrency limits, and rates as (starts,
        seconds). "all" when every limit was set; "concurrency" when the
        database has no rate limits yet (post migration 0044 pending: only
        the concurrency limits were set); "none" when it has no limits at
        all (0041 pending)."""

        def spec(concurrency: int | None, rate: tuple[int, float] | None) -> dict[str, Any]:
            given: dict[str, Any] = {"concurrency": concurrency}
            if rate is not None:
                given["rate"], given["per"] = rate
            return given

        limits: dict[str, dict[str, dict[str, Any]]] = {}
        for scope, concurrencies, rates in (
            ("task", task_limits, task_rates or {}),
            ("queue", queue_limits, queue_rates or {}),
        ):
            limits[scope] = {
                name: spec(concurrencies.get(name), rates.get(name))
                for name in sorted(set(concurrencies) | set(rates))
            }
        try:
            yield call_none(queries.REGISTER_LIMITS_V2, limits=self.connector.dump_json(limits))
            return "all"
        except exceptions.ConnectorException as exc:
            if not _function_missing(exc):
                raise
        try:
            yield call_none(
                queries.REGISTER_LIMITS,
                limits=self.connector.dump_json({"task": task_limits, "queue": queue_limits}),
            )
        except exceptions.ConnectorException as exc:
            if not _function_missing(exc):
                raise
            return "none"
        return "concurrency"

    register_limits_async = _register_limits.async_

    @operation
    def _limit_wait(self, queues: Iterable[str] | None) -> Operation[tuple[bool, float | None]]:
        """After a claim that came back short: whether any rate limit
        exists, and the seconds until an empty bucket that concerns
        ``queues`` (None: all) has a token again (None: no such bucket). A
        database without rate limits (post migration 0044 pending) answers
        (False, None)."""
        try:
            row = yield call_one(
                queries.LIMIT_WAIT, queues=None if queues is None else list(queues)
            )
        except exceptions.ConnectorException as exc:
            if not _function_missing(exc):
                raise
            return False, None
        return bool(row["has_rate_limits"]), row["seconds"]

    limit_wait_async = _limit_wait.async_

    @operation
    def _heartbeat(self, worker_id: int) -> Operation[float | None]:
        """Renew the worker's lease; returns its length in seconds, or None
        when the worker's row is gone: stop reporting under that id."""
        return one(queries.HEARTBEAT, "lease", worker_id=worker_id)

    heartbeat_async = _heartbeat.async_

    @operation
    def _unregister_worker(self, worker_id: int) -> Operation[int]:
        """Remove the worker; returns how many held jobs went back to the queue."""
        return one(queries.UNREGISTER_WORKER, "released", worker_id=worker_id)

    unregister_worker_async = _unregister_worker.async_

    @operation
    def _release_jobs(self, worker_id: int, job_ids: list[int]) -> Operation[list[int]]:
        """Give back jobs claimed ahead and never started (back to todo, no
        attempt counted; aborted if their abort was requested); returns
        the ids released."""
        if not job_ids:
            return []
        return (yield from ids(queries.RELEASE_JOBS, worker_id=worker_id, job_ids=job_ids))

    release_jobs_async = _release_jobs.async_

    @operation
    def _jobs_to_abort(self, worker_id: int) -> Operation[list[int]]:
        """Ids of the worker's running jobs whose abort was requested."""
        return ids(queries.JOBS_TO_ABORT, worker_id=worker_id)

    jobs_to_abort_async = _jobs_to_abort.async_

    @operation
    def _reconcile_held_jobs(
        self, worker_id: int, held: list[int]
    ) -> Operation[list[dict[str, Any]]]:
        """Compare ``held`` (every job the worker claimed and has not seen
        reported) with the jobs the database gives the worker; returns
        ``{"job_id", "worker_knew", "status"}`` per difference. A job the
        worker forgot (``worker_knew`` false: its report lost in a failover)
        was taken back as a rescue would; a job it holds that is not its own
        (``worker_knew`` true) should stop. Call it with no fetch in flight."""
        return rows(queries.RECONCILE_HELD_JOBS, worker_id=worker_id, held=held)

    reconcile_held_jobs_async = _reconcile_held_jobs.async_

    @operation
    def _rescue_stalled_jobs(self, worker_id: int | None) -> Operation[list[dict[str, Any]]]:
        """Take back the jobs of workers silent for longer than their lease;
        returns ``{"job_id", "status"}`` per rescued job. The database
        decides everything: the leases, the rescue limit, and whether
        ``worker_id`` may rescue yet (not within a lease of a gap in its own
        heartbeat longer than its lease).
        None: an operator's rescue, when no worker is alive."""
        return rows(queries.RESCUE_STALLED_JOBS, worker_id=worker_id)

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
