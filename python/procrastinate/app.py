"""App: the entry point. Registers tasks, opens the connector, defers jobs
and runs workers."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import difflib
import logging
import types
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypedDict

from procrastinate import blueprints, exceptions, jobs, manager, middleware, schema, utils
from procrastinate import connector as connector_module

if TYPE_CHECKING:
    import sys

    from procrastinate import worker

    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

logger = logging.getLogger(__name__)


class WorkerOptions(TypedDict, total=False):
    """The options of ``run_worker`` and ``run_worker_async`` (procrastinate
    3.x's, and ``prefetch``), for type checkers."""

    queues: Iterable[str] | None
    name: str | None
    concurrency: int
    wait: bool
    fetch_job_polling_interval: float
    abort_job_polling_interval: float
    shutdown_graceful_timeout: float | None
    listen_notify: bool
    delete_jobs: str | jobs.DeleteJobCondition | None
    additional_context: dict[str, Any] | None
    install_signal_handlers: bool
    update_heartbeat_interval: float
    stalled_worker_timeout: float | None
    task_middleware: list[middleware.TaskMiddleware] | None
    worker_middleware: list[middleware.WorkerMiddleware] | None
    prefetch: int | None
    metrics_port: int | None
    metrics_host: str
    freeze_gc: bool


class App(blueprints.Blueprint):
    """Create one App, decorate tasks with ``@app.task``, open it
    (``async with app.open_async():`` or ``with app.open():``), defer jobs,
    and run workers with ``app.run_worker()`` or the ``procrastinate`` CLI.

    ``import_paths`` are modules to import so that workers know every task;
    ``worker_defaults`` are default worker options (see run_worker_async);
    ``periodic_defaults`` tune the periodic deferrer (``max_delay``, s);
    ``store_result`` is the default of the tasks that do not say whether to
    keep what they return (docs/results.md); ``queue_limits`` maps queue
    names to their limits across all workers: how many of their jobs may run
    at once (``5``), how many may start per period (``"100/m"``, ``(100,
    60)``), or both (``{"concurrency": 5, "rate": "100/m"}``), set in the
    database by each worker when it starts (docs/flow-control.md).
    """

    @classmethod
    def from_path(cls, dotted_path: str) -> App:
        """The App at ``package.module.attribute``."""
        return utils.load_from_path(dotted_path, cls)

    def __init__(
        self,
        *,
        connector: connector_module.BaseConnector,
        import_paths: Iterable[str] | None = None,
        worker_defaults: dict[str, Any] | None = None,
        periodic_defaults: dict[str, Any] | None = None,
        store_result: bool = False,
        queue_limits: dict[str, Any] | None = None,
    ):
        super().__init__()
        from procrastinate import tasks

        #: Concurrency limits of queues (queue name -> jobs running at once).
        self.queue_limits: dict[str, int] = {}
        #: Rate limits of queues (queue name -> starts per period).
        self.queue_rate_limits: dict[str, tasks.RateLimit] = {}
        self._queue_limits_given = dict(queue_limits or {})
        for queue, limit in self._queue_limits_given.items():
            owner = f"queue {queue!r}"
            malformed = ValueError(
                f"the limits of {owner} are a number of jobs, a rate or "
                f"{{'concurrency': jobs, 'rate': rate}}, got {limit!r}"
            )
            concurrency: Any = None
            rate: Any = None
            if isinstance(limit, dict):
                if not limit or set(limit) - {"concurrency", "rate"}:
                    raise malformed
                concurrency, rate = limit.get("concurrency"), limit.get("rate")
            elif isinstance(limit, int) and not isinstance(limit, bool):
                concurrency = limit
            elif isinstance(limit, str | tuple | tasks.RateLimit):
                rate = limit
            else:
                raise malformed
            checked = tasks.check_concurrency_limit(concurrency, owner)
            if checked is not None:
                self.queue_limits[queue] = checked
            checked_rate = tasks.check_rate_limit(rate, owner)
            if checked_rate is not None:
                self.queue_rate_limits[queue] = checked_rate
        #: Whether jobs keep what their task returns, for tasks that do not say.
        self.store_result = store_result
        self.connector = connector
        self.import_paths = list(import_paths or [])
        self.worker_defaults = dict(worker_defaults or {})
        self.periodic_defaults = dict(periodic_defaults or {})
        self._import_paths_performed = False
        #: Job operations (JobManager), bound to this app's connector.
        self.job_manager = manager.JobManager(connector=self.connector)
        self._register_builtin_tasks()

    def _register_builtin_tasks(self) -> None:
        from procrastinate import builtin_tasks

        # Each app gets its own Task objects: the module's blueprint is shared.
        # The module's tasks themselves defer through the app created last,
        # as in procrastinate 3.x (builtin_tasks.remove_old_jobs.defer(...)).
        for task in {id(t): t for t in builtin_tasks.builtin.tasks.values()}.values():
            own = copy.copy(task)
            name = task.name.rpartition(":")[2]
            own.name, own.aliases = utils.add_namespace(name, "builtin"), [name]
            own.blueprint = self
            self._register_task(own)
            task.name, task.aliases, task.blueprint = own.name, list(own.aliases), self

    def get_connector(self) -> connector_module.BaseConnector:
        """The app's connector."""
        return self.connector

    def with_connector(self, connector: connector_module.BaseConnector) -> App:
        """Deprecated: another App sharing this one's tasks, with another
        connector. Prefer replace_connector."""
        app = App(
            connector=connector,
            import_paths=self.import_paths,
            worker_defaults=self.worker_defaults,
            periodic_defaults=self.periodic_defaults,
            store_result=self.store_result,
            queue_limits=self._queue_limits_given,
        )
        app.tasks = self.tasks
        app.periodic_registry = self.periodic_registry
        return app

    @contextlib.contextmanager
    def replace_connector(self, connector: connector_module.BaseConnector) -> Iterator[App]:
        """Use ``connector`` within the block, then restore the previous one."""
        previous = self.connector
        self.connector = self.job_manager.connector = connector
        try:
            yield self
        finally:
            self.connector = self.job_manager.connector = previous

    def will_configure_task(self) -> None:
        pass

    def perform_import_paths(self) -> None:
        """Import the modules of import_paths (once)."""
        if self._import_paths_performed:
            return
        utils.import_all(self.import_paths)
        logger.debug(
            "All tasks imported",
            extra={"action": "imported_tasks", "tasks": list(self.tasks)},
        )
        self._import_paths_performed = True

    def configure_task(
        self, name: str, *, allow_unknown: bool = True, **kwargs: Any
    ) -> jobs.JobDeferrer:
        """A JobDeferrer for the task named ``name`` (options as in
        Task.configure). A name the app does not know is deferred as is,
        unless ``allow_unknown`` is False: then TaskNotFound."""
        from procrastinate import tasks

        self.perform_import_paths()
        task = self.tasks.get(name)
        if task is not None:
            return task.configure(**kwargs)
        if not allow_unknown:
            close = difflib.get_close_matches(name, list(self.tasks), n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise exceptions.TaskNotFound(f"Task {name!r} is not registered.{hint}")
        if kwargs.get("store_result") is None:
            kwargs["store_result"] = self.store_result
        return tasks.configure_task(name=name, job_manager=self.job_manager, **kwargs)

    # --- workers -------------------------------------------------------------------

    def _worker(self, **options: Any) -> worker.Worker:
        from procrastinate import worker

        options = {**self.worker_defaults, **options}
        if "processes" in options:
            raise TypeError(
                "processes is an option of the procrastinate worker command "
                "(--processes N), not of run_worker: a worker runs in the calling "
                "process (docs/deploy.md, 'Running workers')"
            )
        return worker.Worker(app=self, **options)

    async def run_worker_async(self, **options: Unpack[WorkerOptions]) -> None:
        """Run a worker until it stops (see worker.Worker for the options:
        queues, name, concurrency, wait, fetch_job_polling_interval,
        abort_job_polling_interval, shutdown_graceful_timeout, listen_notify,
        delete_jobs, additional_context, install_signal_handlers,
        update_heartbeat_interval, stalled_worker_timeout, task_middleware,
        worker_middleware, prefetch, metrics_port, metrics_host, freeze_gc). ``worker_defaults``
        fill the options not given. The app must be open."""
        self.perform_import_paths()
        await self._worker(**options).run()

    def run_worker(self, **options: Unpack[WorkerOptions]) -> None:
        """Synchronous run_worker_async: opens the app on a new event loop,
        runs the worker, closes the app. A database that refuses the
        connection (password, role, database, SSL) fails at once with its
        message; one that cannot be reached is waited for (SIGINT/SIGTERM
        meanwhile: returns without starting)."""
        from procrastinate import database_probe

        handle_signals = {**self.worker_defaults, **options}.get("install_signal_handlers", True)

        async def run() -> None:
            if not await database_probe.wait_until_reachable(
                self.connector, handle_signals=handle_signals
            ):
                return
            async with self.open_async():
                await self.run_worker_async(**options)

        asyncio.run(run())

    # --- connection ------------------------------------------------------------------

    async def check_connection_async(self) -> bool:
        return await self.job_manager.check_connection_async()

    def check_connection(self) -> bool:
        return self.job_manager.check_connection()

    @property
    def schema_manager(self) -> schema.SchemaManager:
        return schema.SchemaManager(connector=self.connector)

    def open(self, pool_or_engine: Any = None) -> App:
        """Open for synchronous use (``with app.open():`` closes on exit).
        ``pool_or_engine``: an existing pool to use."""
        self.connector.get_sync_connector().open(pool_or_engine)
        return self

    def close(self) -> None:
        self.connector.get_sync_connector().close()

    def open_async(self, pool: Any = None) -> utils.AwaitableContext[App]:
        """Open asynchronously: ``await app.open_async()``, or ``async with
        app.open_async():`` which closes on exit. ``pool``: an existing pool."""
        return utils.AwaitableContext(
            open_coro=lambda: self.connector.open_async(pool=pool),
            close_coro=self.connector.close_async,
            return_value=self,
        )

    async def close_async(self) -> None:
        await self.connector.close_async()

    def __enter__(self) -> App:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self.close()
