"""The worker's coordinator: its options, run, stop and shutdown. Each run
gets one WorkerState (state.py) and the parts that work on it, each given the
state and the narrow callables it needs, never the Worker
(docs/architecture.md draws them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from procrastinate import job_context, jobs, middleware, signals, utils
from procrastinate._db import version as schema_version
from procrastinate.worker import heap, periodic_deferrer
from procrastinate.worker.aborts import Aborts
from procrastinate.worker.executor import Middlewares
from procrastinate.worker.health import Health
from procrastinate.worker.heartbeat import HeartbeatThread
from procrastinate.worker.listener import Listener
from procrastinate.worker.producer import Producer
from procrastinate.worker.reconcile import Reconciler
from procrastinate.worker.release import IMMEDIATE_STOP_REPORT_TIMEOUT, release_buffered, unregister
from procrastinate.worker.reporter import Reporter
from procrastinate.worker.slots import Slots
from procrastinate.worker.state import WorkerOptions, WorkerState

if TYPE_CHECKING:
    from procrastinate import app as app_module
    from procrastinate.metrics import WorkerMetrics

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


def _worker_metrics() -> WorkerMetrics:
    try:
        from procrastinate import metrics
    except ImportError as exc:
        raise RuntimeError(
            "metrics_port needs the metrics extra: "
            f"pip install 'procrastinate-sqlcore[metrics]' ({exc})"
        ) from None
    return metrics.WorkerMetrics()


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
        metrics_port: int | None = None,
        metrics_host: str = "0.0.0.0",
        freeze_gc: bool = True,
    ):
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if prefetch is None:
            prefetch = min(concurrency * PREFETCH_PER_SLOT, MAX_DEFAULT_PREFETCH)
        if prefetch < 0:
            raise ValueError(f"prefetch must be zero or more jobs, got {prefetch}")
        self.app = app
        self.options = WorkerOptions(
            worker_name=name,
            queues=list(queues) if queues else None,
            concurrency=concurrency,
            wait=wait,
            prefetch=prefetch,
            fetch_job_polling_interval=fetch_job_polling_interval,
            abort_job_polling_interval=abort_job_polling_interval,
            shutdown_graceful_timeout=shutdown_graceful_timeout,
            listen_notify=listen_notify,
            delete_jobs=jobs.DeleteJobCondition(delete_jobs or jobs.DeleteJobCondition.NEVER),
            additional_context=additional_context,
            install_signal_handlers=install_signal_handlers,
            update_heartbeat_interval=update_heartbeat_interval,
            stalled_worker_timeout=stalled_worker_timeout,
            task_middleware=list(task_middleware or []),
            worker_middleware=list(worker_middleware or []),
            database_timeout=DATABASE_TIMEOUT,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
            freeze_gc=freeze_gc,
        )
        #: Prometheus metrics (procrastinate.metrics), when a port is given.
        self.metrics = _worker_metrics() if metrics_port is not None else None
        self._middlewares = Middlewares(
            self.options.task_middleware, self.options.worker_middleware, owner=self
        )
        self.logger = logger.getChild(name) if name else logger
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reset()

    def __getattr__(self, name: str) -> Any:
        # procrastinate's attributes (worker.concurrency...) are the options.
        if name == "options":  # not set yet
            raise AttributeError(name)
        return getattr(self.options, name)

    def _reset(self) -> None:
        """A new state and new parts, for one run."""
        options, job_manager = self.options, self.app.job_manager
        self.state = state = WorkerState(
            options,
            self.logger,
            dump_json=lambda value: job_manager.connector.dump_json(value),
            read_results=job_manager.job_results_async,
            metrics=self.metrics,
        )
        self.aborts = Aborts(state, job_manager)
        self.health = Health(state, job_manager, abort=self.aborts.abort)
        self.reporter = Reporter(state, job_manager, renewed=self.health.renewed)
        self.listener = Listener(state, job_manager, check_aborts=self.aborts.check_soon)
        self.slots = Slots(
            state, self.app, self._middlewares, self.reporter, on_failure=self._side_task_done
        )
        reconciler = Reconciler(state, job_manager, self.reporter, abort=self.aborts.abort)
        self.producer = Producer(
            state, job_manager, self.health, self.reporter, self.slots, reconciler
        )
        # What was missed during an outage is looked at once it ends.
        state.on_database_back += [self.aborts.check_soon, self.reporter.retry_now]
        # The error of the first part beside the jobs that died: run() raises it.
        self._side_failure: BaseException | None = None
        self._heartbeat_thread: HeartbeatThread | None = None

    @property
    def worker_id(self) -> int | None:
        """The worker's id in procrastinate_workers while it is registered."""
        return self.state.worker_id

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
        if not state.stopping.is_set():
            state.log(logging.INFO, "stopping_worker", "Stop requested")
            state.stopping.set()
            state.wake.set()

    def _immediate_stop(self) -> None:
        state = self.state
        if not state.stop_now.is_set():
            state.log(
                logging.INFO,
                "stopping_worker_now",
                "Immediate stop requested: aborting running jobs",
            )
            self._stop()
            state.stop_now.set()
            state.job_ended.set()

    async def run(self) -> None:
        """Run until stopped (or, with wait=False, until no job is left)."""
        self._loop = asyncio.get_running_loop()
        self._reset()
        if self.metrics is not None:
            self._serve_metrics(self.metrics)
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
            if self.metrics is not None:
                await self.metrics.close()

    def _serve_metrics(self, metrics: WorkerMetrics) -> None:
        options = self.options
        assert options.metrics_port is not None
        metrics.serve(
            options.metrics_host, options.metrics_port, self.app.connector, lambda: self.state
        )
        self.state.log(
            logging.INFO,
            "serve_metrics",
            f"Serving Prometheus metrics on http://{options.metrics_host}:{metrics.port}/metrics",
            metrics_port=metrics.port,
        )

    async def _register_limits(self) -> None:
        """Set the limits written in the code (the tasks' concurrency_limit
        and rate_limit, the App's queue_limits) before claiming a job."""
        tasks = {id(task): task for task in self.app.tasks.values()}.values()
        task_limits = {
            task.name: task.concurrency_limit
            for task in tasks
            if task.concurrency_limit is not None
        }
        task_rates = {
            task.name: (task.rate_limit.rate, task.rate_limit.per)
            for task in tasks
            if task.rate_limit is not None
        }
        queue_limits = dict(self.app.queue_limits)
        queue_rates = {
            queue: (limit.rate, limit.per) for queue, limit in self.app.queue_rate_limits.items()
        }
        if not task_limits and not queue_limits and not task_rates and not queue_rates:
            return
        registered = await self.state.db_call(
            self.app.job_manager.register_limits_async(
                task_limits, queue_limits, task_rates, queue_rates
            )
        )
        if registered == "none":
            self.state.log(
                logging.WARNING,
                "limits_not_set",
                "The database has no concurrency limits yet (migration 0041 pending): "
                "jobs run without the limits of the code",
            )
        elif registered == "concurrency" and (task_rates or queue_rates):
            self.state.log(
                logging.WARNING,
                "rate_limits_not_set",
                "The database has no rate limits yet (migration 0044 pending): "
                "jobs run without the rate limits of the code",
            )

    async def _run(self) -> None:
        state, options = self.state, self.options
        # Refuse a periodic task whose cron never fires, before registering.
        periodic_deferrer.check_periodic_tasks(self.app.periodic_registry)
        deferrer = periodic_deferrer.PeriodicDeferrer(
            self.app.periodic_registry, **self.app.periodic_defaults
        )
        # Refuse to run on a database lacking this code's pre migrations.
        await schema_version.check_async(self.app.connector)
        await self._register_limits()
        await self.health.start()
        # Jobs of workers that died before we started are ours to take now.
        await self.health.rescue_stalled_jobs()
        state.log(
            logging.DEBUG, "register_worker", f"Registered worker {state.worker_id} in the database"
        )
        side_tasks = await self._start_side_tasks()
        deferring = self._side_task(deferrer.run(), "periodic deferrer")
        handlers = (
            signals.on_stop(self._stop, self._immediate_stop)
            if options.install_signal_handlers
            else contextlib.nullcontext()
        )
        with handlers:
            state.log(
                logging.INFO,
                "start_worker",
                f"Starting worker on {utils.queues_display(options.queues)}",
            )
            try:
                with heap.frozen(options.freeze_gc):
                    await self.producer.run()
            finally:
                try:
                    # No new periodic job once stopping.
                    await self._cancel_side_tasks([deferring])
                    await self._shutdown(side_tasks)
                finally:
                    await self.slots.close(IMMEDIATE_STOP_REPORT_TIMEOUT)
                    if self._heartbeat_thread is not None:
                        await self._heartbeat_thread.stop()
        if self._side_failure is not None:
            raise self._side_failure

    def _side_task(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._side_task_done)
        return task

    async def _cancel_side_tasks(self, tasks: list[asyncio.Task[Any]]) -> None:
        for task in tasks:
            task.remove_done_callback(self._side_task_done)
        await utils.cancel_and_capture_errors(tasks)

    async def _start_side_tasks(self) -> list[asyncio.Task[Any]]:
        tasks = [
            self._side_task(self.reporter.run(), "reporter"),
            self._side_task(self.health.fence_loop(), "lease fence"),
            self._side_task(self.aborts.loop(), "abort checks"),
        ]
        # The heartbeat beats from a thread with a connection of its own, so
        # that a task blocking the event loop does not cost the lease.
        params = await self.app.connector.side_connection_params()
        if params is not None:
            conninfo, kwargs = params
            self._heartbeat_thread = HeartbeatThread(
                self.state, self.health, conninfo, kwargs, on_failure=self._side_part_failed
            )
            self._heartbeat_thread.start()
        else:
            tasks.append(self._side_task(self.health.heartbeat_loop(), "heartbeat"))
        if self.options.listen_notify:
            tasks.append(self._side_task(self.listener.run(), "listener"))
        return tasks

    def _side_task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            self._side_part_failed(task.get_name(), error)

    def _side_part_failed(self, name: str, error: BaseException) -> None:
        """A part beside the jobs (a side task, a slot, the periodic deferrer,
        the heartbeat thread) died: the worker stops; run() raises ``error``."""
        self.state.log(
            logging.ERROR,
            "side_task_failed",
            f"{name.capitalize()} failed: {error!r}; stopping the worker",
            exc_info=error,
            task_name=name,
        )
        if self._side_failure is None:
            self._side_failure = error
        self._stop()

    async def _shutdown(self, side_tasks: list[asyncio.Task[Any]]) -> None:
        state, job_manager = self.state, self.app.job_manager
        # Jobs claimed ahead go back first: other workers may run them now.
        await release_buffered(state, job_manager, state.buffer.clear(), "worker stopping")
        await self.aborts.wind_down(self.reporter, self.options.shutdown_graceful_timeout)
        await self._cancel_side_tasks(side_tasks)
        if self._heartbeat_thread is not None:
            await self._heartbeat_thread.stop()
        await unregister(state, job_manager)
        state.log(
            logging.INFO,
            "stop_worker",
            f"Stopped worker on {utils.queues_display(self.options.queues)}",
        )
