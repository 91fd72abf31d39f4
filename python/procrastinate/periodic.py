"""Periodic tasks: the registrations made by ``@app.periodic(cron=...)``
(App.periodic_registry). The worker defers their ticks
(worker.periodic_deferrer), each tick once across workers.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procrastinate import exceptions

if TYPE_CHECKING:
    import croniter as croniter_module

    from procrastinate import tasks
    from procrastinate.worker.periodic_deferrer import MARGIN, MAX_DELAY, PeriodicDeferrer

logger = logging.getLogger(__name__)


def _check_syntax(cron: str) -> None:
    import croniter

    if len(cron.split()) not in (5, 6) or not croniter.croniter.is_valid(cron):
        raise exceptions.InvalidPeriodicTask(f"Invalid cron expression {cron!r}")


def validate_cron(cron: str, owner: str = "") -> None:
    """InvalidPeriodicTask (a ValueError) unless ``cron`` has 5 fields, or 6
    with seconds last, and fires at some date (not ``0 0 31 2 *``);
    ``owner`` starts the message."""
    import croniter

    _check_syntax(cron)
    try:
        croniter.croniter(cron, time.time()).get_next(float)
    except (croniter.CroniterError, ValueError, OverflowError) as exc:
        raise exceptions.InvalidPeriodicTask(
            f"{owner}{'cron' if owner else 'Cron'} expression {cron!r} never fires: "
            f"no date matches it ({exc})"
        ) from exc


@dataclasses.dataclass(frozen=True)
class PeriodicTask:
    """One periodic registration of a task: deferred at each tick of
    ``cron`` with ``configure_kwargs``; the task gets ``timestamp``."""

    task: tasks.Task
    cron: str
    periodic_id: str
    configure_kwargs: dict[str, Any]

    @functools.cached_property
    def croniter(self) -> croniter_module.croniter:
        import croniter

        return croniter.croniter(self.cron)


class PeriodicRegistry:
    def __init__(self) -> None:
        #: {(task name, periodic_id): PeriodicTask}
        self.periodic_tasks: dict[tuple[str, str], PeriodicTask] = {}

    def periodic_decorator(
        self, cron: str, periodic_id: str = "", **configure_kwargs: Any
    ) -> Callable[[tasks.Task], tasks.Task]:
        """Decorator for ``@app.periodic(...)``, placed above ``@app.task``.
        A malformed ``cron`` is refused here, one that never fires when the
        task is registered (the error names the task)."""
        _check_syntax(cron)

        def wrapper(task: tasks.Task) -> tasks.Task:
            from procrastinate import tasks as tasks_module

            if not isinstance(task, tasks_module.Task):
                raise TypeError(
                    "@periodic decorates a task: put it above @app.task(...)"
                )
            self.register_task(
                task=task,
                cron=cron,
                periodic_id=periodic_id,
                configure_kwargs=configure_kwargs,
            )
            return task

        return wrapper

    def register_task(
        self,
        task: tasks.Task,
        cron: str,
        periodic_id: str,
        configure_kwargs: dict[str, Any],
    ) -> PeriodicTask:
        key = (task.name, periodic_id)
        # Refused now: a worker would defer nothing for it.
        validate_cron(cron, f"Periodic task {task.name!r} (periodic_id {periodic_id!r}): ")
        if key in self.periodic_tasks:
            raise exceptions.TaskAlreadyRegistered(
                f"Task {task.name} already has a periodic registration with "
                f"periodic_id {periodic_id!r}: give each schedule its own periodic_id"
            )
        # DEBUG: it runs when the app's module is imported, by every command.
        logger.debug(
            f"Registering task {task.name} with periodic id {periodic_id!r} to run "
            f"periodically with cron {cron}",
            extra={
                "action": "registering_periodic_task",
                "task": task.name,
                "cron": cron,
                "periodic_id": periodic_id,
                "kwargs": str(configure_kwargs),
            },
        )
        periodic_task = PeriodicTask(
            task=task,
            cron=cron,
            periodic_id=periodic_id,
            configure_kwargs=dict(configure_kwargs),
        )
        self.periodic_tasks[key] = periodic_task
        return periodic_task


def __getattr__(name: str) -> Any:
    # procrastinate keeps the deferrer in this module: same names here.
    if name in ("MARGIN", "MAX_DELAY", "PeriodicDeferrer"):
        from procrastinate.worker import periodic_deferrer

        return getattr(periodic_deferrer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MARGIN",
    "MAX_DELAY",
    "PeriodicDeferrer",
    "PeriodicRegistry",
    "PeriodicTask",
    "validate_cron",
]
