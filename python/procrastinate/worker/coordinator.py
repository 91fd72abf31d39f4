"""The worker's coordinator: its options, run, stop and shutdown.

It builds one WorkerState per run (worker.state: the jobs held, the events)
and the parts that work on it, each given the state and the narrow
callables it needs, never the Worker:

    producer -> buffer -> slots -> executor -> reporter
    (fetch)     (claimed   (run,    (returns     (batched
                 ahead)     report)  outcome)     finish)

and beside the jobs: health (lease and fence), heartbeat (a thread of its
own, with the stalled-job rescue), aborts, listener, release, and the
periodic deferrer. What to retry, when, which job a lock lets through: all
decided in SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from procrastinate import (
    exceptions,
    job_context,
    jobs,
    middleware,
    signals,
    utils,
)
from procrastinate import periodic_deferrer as periodic_deferrer_module
from procrastinate._db import version as schema_version
from procrastinate.worker.aborts import Aborts
from procrastinate.worker.executor import Middlewares
from procrastinate.worker.health import Health
from procrastinate.worker.heartbeat import HeartbeatThread
from procrastinate.worker.listener import Listener
from procrastinate.worker.producer import Producer
from procrastinate.worker.release import (
    IMMEDIATE_STOP_REPORT_TIMEOUT,
    release_buffered,
    unregister,
)
from procrastinate.worker.reporter import Reporter
from procrastinate.worker.slots import Slots
from procrastinate.worker.state import WorkerOptions, WorkerState

if TYPE_CHECKING:
    from procrastinate import app as app_module

# Named as procrastinate's worker module logger: configurations select by it.
logger = logging.getLogger("procrastinate.worker")

WORKER_NAME = "worker"
WORKER_CONCURRENCY = 1
#: Jobs claimed ahead of free slots, per slot, while jobs are short
#: (worker.prefetch): the default of the ``prefetch`` option is this times
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
        """A new state and new parts, for one run."""
        options = WorkerOptions(
            name=self.worker_name,
            queues=self.queues,
            concurrency=self.concurrency,
            wait=self.wait,
            prefetch=self.prefetch,
            fetch_job_polling_interval=self.fetch_job_polling_interval,
            abort_job_polling_interval=self.abort_job_polling_interval,
            update_heartbeat_interval=self.update_heartbeat_interval,
            stalled_worker_timeout=self.stalled_worker_timeout,
            delete_jobs=self.delete_jobs,
            additional_context=self.additional_context,
            database_timeout=self.database_timeout,
        )
        self.state = state = WorkerState(options, self.logger)
        job_manager = self.app.job_manager
        self.aborts = Aborts(state, job_manager)
        self.health = Health(state, job_manager, abort=self.aborts.abort)
        self.reporter = Reporter(state, job_manager, renewed=self.health.renewed)
        self.listener = Listener(state, job_manager, check_aborts=self.aborts.check_soon)
        self.slots = Slots(
            state,
            self.app,
            Middlewares(task=self.task_middleware, worker=self.worker_middleware, owner=self),
            self.reporter,
            on_failure=self._side_task_done,
        )
        self.producer = Producer(state, job_manager, self.health, self.reporter, self.slots)
        # What was missed during an outage is looked at once it ends.
        state.on_database_back += [self.aborts.check_soon, self.reporter.retry_now]
        # The first side task (or the periodic deferrer) that died: the
        # worker stops and run() raises it.
        self._side_failure: BaseException | None = None
        self._heartbeat_thread: HeartbeatThread | None = None

    @property
    def worker_id(self) -> int | None:
        """The worker's id in procrastinate_workers while it is registered."""
        return self.state.worker_id

    def log_extra(self, action: str, run: Any = None, **kwargs: Any) -> dict[str, Any]:
        return self.state.log_extra(action, run, **kwargs)

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
        state = self.state
        if state.stopping.is_set():
            return
        self.logger.info("Stop requested", extra=self.log_extra("stopping_worker"))
        state.stopping.set()
        state.wake.set()

    def _immediate_stop(self) -> None:
        state = self.state
        if state.stop_now.is_set():
            return
        self.logger.info(
            "Immediate stop requested: aborting running jobs",
            extra=self.log_extra("stopping_worker_now"),
        )
        self._stop()
        state.stop_now.set()
        state.job_ended.set()

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
        manager, state = self.app.job_manager, self.state
        # Refuse a periodic task whose cron never fires, before registering.
        periodic_deferrer_module.check_periodic_tasks(self.app.periodic_registry)
        # Refuse to run on a database lacking this code's pre migrations.
        await schema_version.check_async(self.app.connector)
        sent_at = time.monotonic()
        state.worker_id = await state.db_call(
            manager.register_worker_async(
                self.worker_name, self.queues, self.concurrency, self.stalled_worker_timeout
            )
        )
        # The lease's length (ours, or the database's setting): worker.health.
        lease = await state.db_call(manager.heartbeat_async(state.worker_id))
        self.health.start_lease(lease, sent_at)
        # Jobs of workers that died before we started are ours to take now
        # (a worker whose heartbeat never broke since it registered may rescue
        # at once: procrastinate_rescue_stalled_jobs_v2).
        await self.health.rescue_stalled_jobs()
        self.logger.debug(
            f"Registered worker {state.worker_id} in the database",
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
                await self.producer.run()
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
            conninfo, kwargs = params
            self._heartbeat_thread = HeartbeatThread(
                self.state, self.health, conninfo, kwargs, on_failure=self.side_part_failed
            )
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

    # --- side loops ------------------------------------------------------------------

    async def _run_periodic_deferrer(self) -> None:
        deferrer = periodic_deferrer_module.PeriodicDeferrer(
            registry=self.app.periodic_registry, **self.app.periodic_defaults
        )
        await deferrer.run()

    # --- shutdown -----------------------------------------------------------------------

    async def _wait_for_jobs(self, timeout: float | None) -> None:
        """Until no job runs, ``timeout`` passes or an immediate stop."""
        state = self.state
        await state.wait_until(lambda: not state.running or state.stop_now.is_set(), timeout)

    async def _shutdown(self, side_tasks: list[asyncio.Task[Any]]) -> None:
        state, job_manager = self.state, self.app.job_manager
        # Jobs claimed ahead go back first: other workers may run them now.
        await release_buffered(state, job_manager, state.buffer.clear(), "worker stopping")
        now = time.time()
        for run in state.running.values():
            self.logger.info(
                f"Waiting for job to finish: worker: {run.job.call_string} "
                f"(started {now - run.context.start_timestamp:.3f} s ago)",
                extra=self.log_extra("ending_job", run),
            )
        await self._wait_for_jobs(self.shutdown_graceful_timeout)
        if state.running and not state.stop_now.is_set():
            self.logger.info(
                f"{len(state.running)} jobs still running after graceful timeout. "
                "Aborting them",
                extra=self.log_extra("stop_worker"),
            )
            for run in list(state.running.values()):
                self.aborts.abort(run, AbortReason.SHUTDOWN)
            await self._wait_for_jobs(None)
        if state.stop_now.is_set():
            await self.aborts.abort_at_once(self.reporter)
        else:
            await self.reporter.drain()
        for task in side_tasks:
            task.remove_done_callback(self._side_task_done)
        await utils.cancel_and_capture_errors(side_tasks)
        if self._heartbeat_thread is not None:
            await self._heartbeat_thread.stop()
        await unregister(state, job_manager)
        self.logger.info(
            f"Stopped worker on {utils.queues_display(self.queues)}",
            extra=self.log_extra("stop_worker"),
        )
