"""The worker: fetch jobs, run them, report how they ended.

One loop (the producer) turns free slots into one fetch call for that many
jobs, plus a few claimed ahead while jobs are short (worker_prefetch). The
fetched jobs wait in the prefetch buffer for a slot (worker_slots: a
long-lived task running jobs one after another, through the executor,
worker_executor). Executors hand their outcome to the reporter
(worker_reporter), which sends outcomes in batches. The producer wakes on a
``job_available`` notification for our queues, when outcomes were reported
(a lock or a retry may have freed a job), when a job ends after a full
fetch, or every ``fetch_job_polling_interval`` seconds.

Side loops: the heartbeat, in a thread of its own (plus the stalled-job
rescue the SQL core asks every live worker to run: worker_heartbeat), the
lease and its fence, and the tracking of database outages (worker_health),
abort checks (on ``abort_requested`` notifications or every
``abort_job_polling_interval``; the database confirms: worker_aborts), the
listener (worker_listener) and the periodic deferrer. Log ``extra`` and the
end-of-job lines: worker_logging; giving claimed jobs back and unregistering:
worker_release. What to retry, when, which job a lock lets through: all
decided in SQL.

This module keeps the coordinator: construction, the producer and the
shutdown; the state they share (running jobs, buffer, wake-up events) lives
here, and the side modules read it through the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from procrastinate import (
    exceptions,
    job_context,
    jobs,
    middleware,
    migrations,
    signals,
    utils,
)
from procrastinate import periodic_deferrer as periodic_deferrer_module
from procrastinate import worker_logging
from procrastinate.worker_aborts import Aborts
from procrastinate.worker_executor import JobRun
from procrastinate.worker_health import Health
from procrastinate.worker_heartbeat import HeartbeatThread
from procrastinate.worker_listener import Listener
from procrastinate.worker_prefetch import PrefetchBuffer
from procrastinate.worker_release import (
    IMMEDIATE_STOP_REPORT_TIMEOUT,
    release_buffered,
    unregister,
)
from procrastinate.worker_reporter import Reporter
from procrastinate.worker_slots import Slots

if TYPE_CHECKING:
    from procrastinate import app as app_module

logger = logging.getLogger(__name__)

WORKER_NAME = "worker"
WORKER_CONCURRENCY = 1
#: Jobs claimed ahead of free slots, per slot, while jobs are short
#: (worker_prefetch): the default of the ``prefetch`` option is this times
#: the concurrency, at most MAX_DEFAULT_PREFETCH.
PREFETCH_PER_SLOT = 10
MAX_DEFAULT_PREFETCH = 100
FETCH_JOB_POLLING_INTERVAL = 5.0
ABORT_JOB_POLLING_INTERVAL = 5.0
#: Deadline of every database call of the worker (seconds): a call hung on
#: a half-open connection fails instead of stalling the worker.
DATABASE_TIMEOUT = 30.0

AbortReason = job_context.AbortReason


class Worker:
    """Runs the jobs of ``app`` (see App.run_worker_async for the options)."""

    # Defined in worker_logging, bound here: no extra call per job.
    log_extra = worker_logging.log_extra
    job_reported = worker_logging.job_reported

    def __init__(
        self,
        app: app_module.App,
        queues: Iterable[str] | None = None,
        name: str | None = WORKER_NAME,
        concurrency: int = WORKER_CONCURRENCY,
        wait: bool = True,
        fetch_job_polling_interval: float = FETCH_JOB_POLLING_INTERVAL,
        abort_job_polling_interval: float = ABORT_JOB_POLLING_INTERVAL,
        shutdown_graceful_timeout: float | None = None,
        listen_notify: bool = True,
        delete_jobs: str | jobs.DeleteJobCondition | None = None,
        additional_context: dict[str, Any] | None = None,
        install_signal_handlers: bool = True,
        update_heartbeat_interval: float = 10.0,
        stalled_worker_timeout: float | None = None,
        task_middleware: list[middleware.TaskMiddleware] | None = None,
        worker_middleware: list[middleware.WorkerMiddleware] | None = None,
        prefetch: int | None = None,
    ):
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if prefetch is None:
            prefetch = min(concurrency * PREFETCH_PER_SLOT, MAX_DEFAULT_PREFETCH)
        if prefetch < 0:
            raise ValueError(f"prefetch must be zero or more jobs, got {prefetch}")
        self.prefetch = prefetch
        self.app = app
        self.queues = list(queues) if queues else None
        self.worker_name = name
        self.concurrency = concurrency
        self.wait = wait
        self.fetch_job_polling_interval = fetch_job_polling_interval
        self.abort_job_polling_interval = abort_job_polling_interval
        self.shutdown_graceful_timeout = shutdown_graceful_timeout
        self.listen_notify = listen_notify
        self.delete_jobs = jobs.DeleteJobCondition(
            delete_jobs or jobs.DeleteJobCondition.NEVER
        )
        self.additional_context = additional_context
        self.install_signal_handlers = install_signal_handlers
        self.update_heartbeat_interval = update_heartbeat_interval
        self.stalled_worker_timeout = stalled_worker_timeout
        self.task_middleware = list(task_middleware or [])
        self.worker_middleware = list(worker_middleware or [])
        self._check_middleware()
        self.logger = logger.getChild(name) if name else logger
        self.worker_id: int | None = None
        self.database_timeout = DATABASE_TIMEOUT
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reset()

    def _check_middleware(self) -> None:
        for mw in [*self.task_middleware, *self.worker_middleware]:
            if not callable(mw):
                raise TypeError(f"Middleware {mw!r} is not callable.")
        for mw in self.worker_middleware:
            if not middleware.is_async_middleware(mw):
                raise exceptions.MiddlewareKindMismatch(
                    f"Worker middleware {getattr(mw, '__name__', repr(mw))!r} must be "
                    "async (async def): worker middleware runs on the event loop."
                )

    def _reset(self) -> None:
        self._running: dict[int, JobRun] = {}
        self._buffer = PrefetchBuffer(self.prefetch)
        self._wake = asyncio.Event()  # the producer should look for jobs
        self._job_ended = asyncio.Event()
        self._stopping = asyncio.Event()
        self._stop_now = asyncio.Event()
        self._last_fetch_full = False
        self._fetch_uncertain = False
        self._claim_token = uuid.uuid4()
        # The first side task (or the periodic deferrer) that died: the
        # worker stops and run() raises it.
        self._side_failure: BaseException | None = None
        self._heartbeat_thread: HeartbeatThread | None = None
        self.reporter = Reporter(self)
        self.health = Health(self)
        self.aborts = Aborts(self)
        self.listener = Listener(self)
        self.slots = Slots(self)

    # --- stopping ----------------------------------------------------------------

    def _call_in_loop(self, callback: Any) -> None:
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is not None and running is not loop:
            loop.call_soon_threadsafe(callback)  # from another thread
        else:
            callback()

    def stop(self) -> None:
        """Stop gracefully: fetch no more, let running jobs end (within
        shutdown_graceful_timeout), report, unregister. Thread-safe."""
        self._call_in_loop(self._stop)

    def stop_now(self) -> None:
        """Stop at once: abort every job, report what is known, unregister.
        Jobs still running in threads go back to the queue. Thread-safe."""
        self._call_in_loop(self._immediate_stop)

    def _stop(self) -> None:
        if self._stopping.is_set():
            return
        self.logger.info("Stop requested", extra=self.log_extra("stopping_worker"))
        self._stopping.set()
        self._wake.set()

    def _immediate_stop(self) -> None:
        if self._stop_now.is_set():
            return
        self.logger.info(
            "Immediate stop requested: aborting running jobs",
            extra=self.log_extra("stopping_worker_now"),
        )
        self._stop()
        self._stop_now.set()
        self._job_ended.set()

    # --- running -----------------------------------------------------------------

    async def run(self) -> None:
        """Run until stopped (or, with wait=False, until no job is left)."""
        self._loop = asyncio.get_running_loop()
        self._reset()
        core = asyncio.create_task(self._run(), name="procrastinate worker")
        try:
            # Cancelling run() stops the worker gracefully (a second cancel: at once).
            await asyncio.shield(core)
        except asyncio.CancelledError:
            self._stop()
            while not core.done():
                try:
                    await asyncio.shield(core)
                except asyncio.CancelledError:
                    self._immediate_stop()
            raise
        finally:
            self._loop = None

    async def _run(self) -> None:
        manager = self.app.job_manager
        # Refuse a periodic task whose cron never fires, before registering.
        periodic_deferrer_module.check_periodic_tasks(self.app.periodic_registry)
        # Refuse to run on a database lacking this code's pre migrations.
        await migrations.check_schema_version_connector(self.app.connector)
        sent_at = time.monotonic()
        self.worker_id = await self.db_call(
            manager.register_worker_async(
                self.worker_name, self.queues, self.concurrency, self.stalled_worker_timeout
            )
        )
        # The lease's length (ours, or the database's setting): worker_health.
        lease = await self.db_call(manager.heartbeat_async(self.worker_id))
        self.health.start_lease(lease, sent_at)
        # Jobs of workers that died before we started are ours to take now
        # (a worker whose heartbeat never broke since it registered may rescue
        # at once: procrastinate_rescue_stalled_jobs_v2).
        await self.health.rescue_stalled_jobs()
        self.logger.debug(
            f"Registered worker {self.worker_id} in the database",
            extra=self.log_extra("register_worker"),
        )
        side_tasks = await self._start_side_tasks()
        deferrer = asyncio.create_task(self._run_periodic_deferrer(), name="periodic deferrer")
        deferrer.add_done_callback(self._side_task_done)
        handlers = (
            signals.on_stop(self._stop, self._immediate_stop)
            if self.install_signal_handlers
            else contextlib.nullcontext()
        )
        with handlers:
            self.logger.info(
                f"Starting worker on {utils.queues_display(self.queues)}",
                extra=self.log_extra("start_worker"),
            )
            try:
                await self._produce()
            finally:
                try:
                    deferrer.remove_done_callback(self._side_task_done)
                    await utils.cancel_and_capture_errors([deferrer])
                    await self._shutdown(side_tasks)
                finally:
                    await self.slots.close(IMMEDIATE_STOP_REPORT_TIMEOUT)
                    if self._heartbeat_thread is not None:
                        await self._heartbeat_thread.stop()
        if self._side_failure is not None:
            raise self._side_failure

    async def _start_side_tasks(self) -> list[asyncio.Task[Any]]:
        tasks = [
            self.reporter.start(),
            asyncio.create_task(self.health.fence_loop(), name="lease fence"),
            asyncio.create_task(self.aborts.loop(), name="abort checks"),
        ]
        # The heartbeat beats from a thread with a connection of its own, so
        # that a task blocking the event loop does not cost the lease.
        params = await self.app.connector.side_connection_params()
        if params is not None:
            self._heartbeat_thread = HeartbeatThread(self, *params)
            self._heartbeat_thread.start()
        else:
            tasks.append(asyncio.create_task(self.health.heartbeat_loop(), name="heartbeat"))
        if self.listen_notify:
            tasks.append(asyncio.create_task(self.listener.run(), name="listener"))
        for task in tasks:
            task.add_done_callback(self._side_task_done)
        return tasks

    def _side_task_done(self, task: asyncio.Task[Any]) -> None:
        """A side task or the periodic deferrer failed: stop at once, and let
        run() raise the reason. (The deferrer ends quietly when there is no
        periodic task.)"""
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        assert error is not None
        self.side_part_failed(task.get_name(), error)

    def side_part_failed(self, name: str, error: BaseException) -> None:
        """A part beside the jobs (a side task, the periodic deferrer, the
        heartbeat thread) died: stop at once; run() raises ``error``."""
        self.logger.error(
            f"{name.capitalize()} failed: {error!r}; stopping the worker",
            exc_info=error,
            extra=self.log_extra("side_task_failed", task_name=name),
        )
        if self._side_failure is None:
            self._side_failure = error
        self._stop()

    async def _produce(self) -> None:
        manager = self.app.job_manager
        while not self._stopping.is_set():
            self._wake.clear()
            # Claimed jobs not yet running are on their way to free slots.
            free = self.concurrency - len(self._running) - len(self._buffer)
            size = self._buffer.fetch_size(free)
            if size > 0 and self._may_fetch():
                # Before the fetch: an outcome committed during it is unseen,
                # and so is the outcome of a job still running at its start.
                settled = self.reporter.idle and not self._running
                sent_at = time.monotonic()
                try:
                    fetched = await self.db_call(
                        manager.fetch_jobs_async(
                            self.worker_id,
                            self.queues,
                            size,
                            claim_token=self._claim_token,
                            resume=self._fetch_uncertain,
                        )
                    )
                except Exception as exc:
                    # The fetch may have been committed with its answer lost:
                    # the next one resumes its claim (same token), and the
                    # database hands back what it claimed.
                    self._fetch_uncertain = True
                    self.health.database_failed("fetch jobs", exc)
                    # Until the next poll, or until a call or the listener
                    # finds the database back (they wake us).
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(
                            self._wake.wait(), self.fetch_job_polling_interval
                        )
                    continue
                self.health.renewed(sent_at)
                self.health.database_works()
                if self._fetch_uncertain and fetched:
                    self.logger.warning(
                        f"Resumed a fetch whose answer was lost: {len(fetched)} job(s) "
                        "claimed then are run now",
                        extra=self.log_extra("resume_lost_fetch", job_count=len(fetched)),
                    )
                self._fetch_uncertain = False
                self._claim_token = uuid.uuid4()
                self._buffer.add(fetched)
                if self._stopping.is_set():
                    break  # _shutdown releases them
                self.slots.offer()
                self._last_fetch_full = bool(fetched) and len(fetched) == size
                if not fetched and not self.wait and not self._running and not self._buffer:
                    # Retries due now become visible once outcomes are in:
                    # look again once they are (not before each fetch: the
                    # fetch would wait for the report's round trip).
                    if not settled and await self.reporter.drain():
                        continue
                    self.logger.info(
                        "No job found. Stopping worker because wait=False",
                        extra=self.log_extra("stop_worker"),
                    )
                    break
                if self._last_fetch_full:
                    continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.fetch_job_polling_interval)

    def _may_fetch(self) -> bool:
        """Not while the lease is about to run out (worker_health), nor while
        outcomes cannot be reported: a worker that cannot report would hold
        ever more jobs that it cannot end."""
        lease = self.health.lease
        return not (lease is not None and lease.fenced) and not self.reporter.failing

    def take_run(self) -> JobRun | None:
        """For a free slot: the next claimed job, now running (None when
        there is none, or once stopping)."""
        if not self._buffer or self._stopping.is_set():
            return None
        job = self._buffer.pop()
        assert job.id is not None
        flag = job_context.AbortFlag()
        context = job_context.JobContext(
            app=self.app,
            worker_name=self.worker_name,
            worker_queues=self.queues,
            job=job,
            start_timestamp=time.time(),
            additional_context=dict(self.additional_context or {}),
            abort_reason=flag.get,
        )
        run = JobRun(job=job, task=self.app.tasks.get(job.task_name), context=context, flag=flag)
        self._running[job.id] = run
        return run

    def run_ended(self, run: JobRun) -> None:
        """Called by the slot once the run is over (its outcome handed on)."""
        if self._running.get(run.job.id) is run:  # type: ignore[arg-type]
            del self._running[run.job.id]  # type: ignore[arg-type]
        self._job_ended.set()
        if run.end_timestamp is not None:
            self._buffer.job_lasted(run.end_timestamp - run.context.start_timestamp)
        if self._last_fetch_full or not self.wait:
            self._wake.set()

    def job_ended(self, run: JobRun) -> None:
        """Called by the executor with the run's outcome."""
        if self._stop_now.is_set() and self.worker_id is None:
            return  # unregistered already: the database released the job
        self.reporter.add(run)

    def outcomes_reported(self) -> None:
        """Called by the reporter after each report: jobs may have become
        available (a lock freed, a retry due now)."""
        self._wake.set()

    # --- database calls ------------------------------------------------------------

    async def db_call(self, awaitable: Any) -> Any:
        """Await a database call with the worker's deadline."""
        return await asyncio.wait_for(awaitable, self.database_timeout)

    # For the reporter and the side loops; the producer calls self.health.
    def database_failed(self, what: str, error: BaseException, log: bool = True) -> None:
        self.health.database_failed(what, error, log)

    def database_works(self) -> None:
        self.health.database_works()

    # --- side loops ------------------------------------------------------------------

    async def _run_periodic_deferrer(self) -> None:
        deferrer = periodic_deferrer_module.PeriodicDeferrer(
            registry=self.app.periodic_registry, **self.app.periodic_defaults
        )
        await deferrer.run()

    # --- shutdown -----------------------------------------------------------------------

    async def _wait_for_jobs(self, timeout: float | None) -> None:
        """Until no job runs, ``timeout`` passes or an immediate stop."""
        await self.wait_until(
            lambda: not self._running or self._stop_now.is_set(), timeout
        )

    async def wait_until(self, condition: Callable[[], bool], timeout: float | None) -> None:
        """Until ``condition()`` holds (looked at each time a job ends) or
        ``timeout`` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not condition():
            self._job_ended.clear()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._job_ended.wait(), remaining)

    async def _shutdown(self, side_tasks: list[asyncio.Task[Any]]) -> None:
        # Jobs claimed ahead go back first: other workers may run them now.
        await release_buffered(self, self._buffer.clear(), "worker stopping")
        now = time.time()
        for run in self._running.values():
            self.logger.info(
                f"Waiting for job to finish: worker: {run.job.call_string} "
                f"(started {now - run.context.start_timestamp:.3f} s ago)",
                extra=self.log_extra("ending_job", run),
            )
        await self._wait_for_jobs(self.shutdown_graceful_timeout)
        if self._running and not self._stop_now.is_set():
            self.logger.info(
                f"{len(self._running)} jobs still running after graceful timeout. "
                "Aborting them",
                extra=self.log_extra("stop_worker"),
            )
            for run in list(self._running.values()):
                self.aborts.abort(run, AbortReason.SHUTDOWN)
            await self._wait_for_jobs(None)
        if self._stop_now.is_set():
            await self.aborts.abort_at_once()
        else:
            await self.reporter.drain()
        for task in side_tasks:
            task.remove_done_callback(self._side_task_done)
        await utils.cancel_and_capture_errors(side_tasks)
        if self._heartbeat_thread is not None:
            await self._heartbeat_thread.stop()
        await unregister(self)
        self.logger.info(
            f"Stopped worker on {utils.queues_display(self.queues)}",
            extra=self.log_extra("stop_worker"),
        )
