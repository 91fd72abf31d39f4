"""Blueprint: tasks declared apart from an App, added to it later under a
namespace (``namespace:task.name``)."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, Literal, ParamSpec, TypedDict, TypeVar, overload

from procrastinate import exceptions, periodic, utils

if TYPE_CHECKING:
    import sys

    from procrastinate import middleware
    from procrastinate import retry as retry_module
    from procrastinate import tasks as tasks_module
    from procrastinate.job_context import JobContext
    from procrastinate.tasks import Task

    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

P = ParamSpec("P")
R = TypeVar("R")
#: The task's parameters but its context: what ``defer`` takes.
Args = ParamSpec("Args")

logger = logging.getLogger(__name__)


class TaskOptions(TypedDict, total=False):
    """The options of ``task()`` but ``pass_context`` (see App.task)."""

    name: str | None
    aliases: list[str] | None
    retry: retry_module.RetryValue
    queue: str
    priority: int
    lock: str | None
    queueing_lock: str | None
    task_middleware: list[middleware.TaskMiddleware] | None
    store_result: bool | None
    concurrency_limit: int | None
    timeout: float | None
    rate_limit: tasks_module.RateLimitValue | None


class Blueprint:
    """A set of tasks to register on an App with ``app.add_tasks_from(bp,
    namespace="ns")``; their names become ``ns:name``. Deferring a task of a
    blueprint that is not added to an app raises UnboundTaskError."""

    def __init__(self) -> None:
        #: Registered tasks by name and alias.
        self.tasks: dict[str, Task] = {}
        #: Periodic registrations (see periodic.PeriodicRegistry).
        self.periodic_registry = periodic.PeriodicRegistry()
        self._warn_if_main()

    def _warn_if_main(self) -> None:
        try:
            module = utils.caller_module_name()
        except exceptions.CallerModuleUnknown:
            return
        if module == "__main__":
            logger.warning(
                f"{type(self).__name__} is instantiated in the main Python module "
                f"({sys.argv[0]}): workers importing it by module name will see "
                "another instance",
                extra={"action": "app_defined_in___main__"},
            )

    def _register_task(self, task: Task) -> None:
        names = [task.name, *task.aliases]
        taken = [name for name in names if name in self.tasks]
        if taken or len(set(names)) != len(names):
            raise exceptions.TaskAlreadyRegistered(
                f"A task named {(taken or names)[0]} was already registered"
            )
        for name in names:
            self.tasks[name] = task

    def add_task_alias(self, task: Task, alias: str) -> None:
        """Register ``task`` under another name too (with its namespace, if any)."""
        if alias in self.tasks:
            raise exceptions.TaskAlreadyRegistered(f"A task named {alias} was already registered")
        self.tasks[alias] = task

    def add_tasks_from(self, blueprint: Blueprint, *, namespace: str) -> None:
        """Register the tasks (and periodic registrations) of ``blueprint``,
        their names and aliases prefixed with ``namespace:``."""
        renamed = {
            utils.add_namespace(name, namespace): task
            for name, task in blueprint.tasks.items()
        }
        if set(renamed) & set(self.tasks):
            raise exceptions.TaskAlreadyRegistered(
                f"A namespace named {namespace} was already registered"
            )
        for task in set(blueprint.tasks.values()):
            task.add_namespace(namespace)
            task.blueprint = self
        blueprint.tasks = renamed
        self.tasks.update(renamed)
        logger.info(
            "Adding tasks from blueprint",
            extra={
                "action": "loading_blueprint",
                "namespace": namespace,
                "tasks": sorted({task.name for task in renamed.values()}),
            },
        )
        for periodic_task in blueprint.periodic_registry.periodic_tasks.values():
            self.periodic_registry.register_task(
                task=periodic_task.task,
                cron=periodic_task.cron,
                periodic_id=periodic_task.periodic_id,
                configure_kwargs=periodic_task.configure_kwargs,
            )

    @overload
    def task(self, _func: Callable[P, R]) -> Task[P, R, P]: ...

    @overload
    def task(
        self,
        _func: None = None,
        *,
        pass_context: Literal[False] = False,
        **options: Unpack[TaskOptions],
    ) -> Callable[[Callable[P, R]], Task[P, R, P]]: ...

    @overload
    def task(
        self, _func: None = None, *, pass_context: Literal[True], **options: Unpack[TaskOptions]
    ) -> Callable[
        [Callable[Concatenate[JobContext, Args], R]],
        Task[Concatenate[JobContext, Args], R, Args],
    ]: ...

    @overload
    def task(
        self, _func: None = None, *, pass_context: bool, **options: Unpack[TaskOptions]
    ) -> Callable[[Callable[..., R]], Task[..., R, ...]]: ...

    def task(self, _func: Callable[..., Any] | None = None, **options: Any) -> Any:
        """Declare a function as a task: ``@app.task`` or ``@app.task(...)``.

        ``name`` defaults to the function's dotted path; ``aliases`` are other
        names; ``retry`` is False (no retry), True (no limit), a number of
        attempts or a RetryStrategy; ``pass_context`` gives the task a
        JobContext first; ``queue``, ``priority``, ``lock`` and
        ``queueing_lock`` are defaults of its jobs; ``task_middleware`` wraps
        its runs; ``store_result`` keeps what it returns (None: the App's
        ``store_result``; docs/results.md); ``concurrency_limit``: at most
        this many of its jobs run at once across all workers;
        ``rate_limit``: at most so many of its jobs start per period across
        all workers, ``"100/m"`` or ``(100, 60)`` (docs/flow-control.md);
        ``timeout``: seconds each of its jobs may run from its claim, then
        the worker stops it and it fails with JobTimeout (a job's
        ``configure(timeout=...)`` replaces it).
        """
        from procrastinate.tasks import Task

        def wrap(func: Callable[..., Any]) -> Task[..., Any, ...]:
            task: Task[..., Any, ...] = Task(func, blueprint=self, **options)
            self._register_task(task)
            functools.update_wrapper(task, func, updated=())
            return task

        if _func is None:
            return wrap
        return wrap(_func)

    def periodic(self, *, cron: str, periodic_id: str = "", **configure_kwargs: Any):
        """Mark a task (decorator above ``@app.task``) to be deferred at each
        tick of ``cron`` (5 fields, or 6 with seconds last). The task receives
        the tick as ``timestamp``; ``configure_kwargs`` go to Task.configure."""
        return self.periodic_registry.periodic_decorator(
            cron=cron, periodic_id=periodic_id, **configure_kwargs
        )

    def will_configure_task(self) -> None:
        raise exceptions.UnboundTaskError
