"""Periodic tasks: registrations made by ``@app.periodic(cron=...)``.

This module only records them (App.periodic_registry); the worker defers
their ticks (periodic_deferrer.PeriodicDeferrer, also importable from here as
in procrastinate), each tick once across workers thanks to
``procrastinate_defer_periodic_job_v1`` (JobManager.defer_periodic_job).
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

logger = logging.getLogger(__name__)


def _check_syntax(cron: str) -> None:
    import croniter

    if len(cron.split()) not in (5, 6) or not croniter.croniter.is_valid(cron):
        raise exceptions.InvalidPeriodicTask(f"Invalid cron expression {cron!r}")


def never_fires(cron: str) -> str | None:
    """Why a valid ``cron`` can never fire (``0 0 31 2 *``: no 31st of
    February), or None when it has a next tick."""
    import croniter

    try:
        croniter.croniter(cron, time.time()).get_next(float)
    except (croniter.CroniterError, ValueError, OverflowError) as exc:
        return f"never fires: no date matches it ({exc})"
    return None


def validate_cron(cron: str) -> None:
    """InvalidPeriodicTask (a ValueError) unless ``cron`` has 5 fields, or 6
    with seconds last, and fires at some date."""
    _check_syntax(cron)
    problem = never_fires(cron)
    if problem is not None:
        raise exceptions.InvalidPeriodicTask(f"Cron expression {cron!r} {problem}")


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
        _check_syntax(cron)
        problem = never_fires(cron)
        if problem is not None:
            # Refused at start-up: a worker would defer nothing for it.
            raise exceptions.InvalidPeriodicTask(
                f"Periodic task {task.name!r} (periodic_id {periodic_id!r}): cron "
                f"expression {cron!r} {problem}"
            )
        if key in self.periodic_tasks:
            raise exceptions.TaskAlreadyRegistered(
                f"Task {task.name} already has a periodic registration with "
                f"periodic_id {periodic_id!r}: give each schedule its own periodic_id"
            )
        logger.info(
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


# procrastinate keeps the deferrer in this module: same names here.
from procrastinate.periodic_deferrer import (  # noqa: E402
    MARGIN,
    MAX_DELAY,
    PeriodicDeferrer,
)

__all__ = [
    "MARGIN",
    "MAX_DELAY",
    "PeriodicDeferrer",
    "PeriodicRegistry",
    "PeriodicTask",
    "never_fires",
    "validate_cron",
]
