"""The periodic deferrer: defers one job per tick of each periodic task.

Every worker runs one; the database keeps each tick to one job
(``procrastinate_defer_periodic_job_v1`` writes the tick row and its job in
one transaction), so any number of workers may run side by side. As
procrastinate does, a worker that starts defers only the latest past tick of
each task, unless it is more than ``max_delay`` seconds late (missed ticks
are not caught up), then every tick as it comes. A tick whose defer failed
on a database error is tried again at the next wake-up, until it is
``max_delay`` late. A cron whose ticks cannot be computed (refused at
registration, unless the registry was filled by hand) makes ``run`` raise
InvalidPeriodicTask and the worker stop: a deferrer that died quietly would
stop every periodic task of the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import croniter

from procrastinate import exceptions

if TYPE_CHECKING:
    from procrastinate import periodic

# procrastinate's deferrer logs as procrastinate.periodic: so does this one.
logger = logging.getLogger("procrastinate.periodic")

#: Ticks more than this late (seconds) are not deferred.
MAX_DELAY = 60 * 10
#: Sleep that much past a tick so as never to wake just before it.
MARGIN = 0.5


def ticks_between(cron: str, since: float, until: float) -> Iterator[int]:
    """The ticks of ``cron`` after ``since`` up to ``until`` (unix seconds)."""
    iterator = croniter.croniter(cron, since)
    while (timestamp := round(iterator.get_next(float))) <= until:
        yield timestamp


def latest_tick(cron: str, at: float) -> int:
    """The last tick of ``cron`` at or before ``at``."""
    return round(croniter.croniter(cron, at).get_prev(float))


@contextlib.contextmanager
def computing_ticks(periodic_task: periodic.PeriodicTask) -> Iterator[None]:
    """Any error computing the ticks of ``periodic_task`` becomes an
    InvalidPeriodicTask naming the task and its cron expression."""
    try:
        yield
    except Exception as exc:
        raise exceptions.InvalidPeriodicTask(
            f"Periodic task {periodic_task.task.name!r} (periodic_id "
            f"{periodic_task.periodic_id!r}): cannot compute the ticks of cron "
            f"expression {periodic_task.cron!r}: {exc}"
        ) from exc


def check_periodic_tasks(
    registry: periodic.PeriodicRegistry, at: float | None = None
) -> list[float]:
    """The next tick of each periodic task after ``at`` (default: now);
    InvalidPeriodicTask for the first whose cron expression never fires."""
    at = time.time() if at is None else at
    ticks = []
    for periodic_task in registry.periodic_tasks.values():
        with computing_ticks(periodic_task):
            ticks.append(croniter.croniter(periodic_task.cron, at).get_next(float))
    return ticks


class PeriodicDeferrer:
    def __init__(self, registry: periodic.PeriodicRegistry, max_delay: float = MAX_DELAY):
        self.registry = registry
        self.max_delay = max_delay
        #: {(task name, periodic_id): every tick up to this timestamp is
        #: handled (deferred by us, found already deferred, or given up)}
        self.last_defers: dict[tuple[str, str], int] = {}

    async def run(self) -> None:
        """Defer ticks as they come, until cancelled. Raises
        InvalidPeriodicTask (at once, or when it happens) for a periodic task
        whose ticks cannot be computed."""
        if not self.registry.periodic_tasks:
            logger.info(
                "No periodic task found, periodic deferrer will not run.",
                extra={"action": "periodic_deferrer_no_task"},
            )
            return
        check_periodic_tasks(self.registry)
        while True:
            await self.defer_due_ticks(now=time.time())
            await self.wait(self.seconds_to_next_tick(at=time.time()))

    # procrastinate's name of run()
    worker = run

    def seconds_to_next_tick(self, at: float) -> float:
        return min(check_periodic_tasks(self.registry, at)) - at

    async def wait(self, seconds: float) -> None:
        logger.debug(
            f"Periodic deferrer waiting for next tasks to defer ({seconds:.0f} s)",
            extra={"action": "wait_next_tick", "next_tick": seconds},
        )
        await asyncio.sleep(seconds + MARGIN)

    def due_ticks(self, periodic_task: periodic.PeriodicTask, now: float) -> list[int]:
        """The ticks of ``periodic_task`` to defer at ``now``, oldest first."""
        key = (periodic_task.task.name, periodic_task.periodic_id)
        since = self.last_defers.get(key)
        with computing_ticks(periodic_task):
            if since is None:
                candidates = [latest_tick(periodic_task.cron, now)]
            else:
                candidates = list(ticks_between(periodic_task.cron, since, now))
        due = [tick for tick in candidates if now - tick <= self.max_delay]
        if len(due) < len(candidates):
            late = candidates[len(candidates) - len(due) - 1]
            logger.debug(
                f"Ignoring periodic task {periodic_task.task.name} scheduled more "
                f"than {self.max_delay} s ago ({now - late:.0f} s)",
                extra={
                    "action": "ignore_periodic_task",
                    "task": periodic_task.task.name,
                    "periodic_id": periodic_task.periodic_id,
                    "max_delay": self.max_delay,
                    "delay": now - late,
                },
            )
            if since is not None:
                self.last_defers[key] = late
        return due

    async def defer_due_ticks(self, now: float) -> None:
        """Defer every due tick of every periodic task (``now``: unix seconds)."""
        for key, periodic_task in self.registry.periodic_tasks.items():
            for timestamp in self.due_ticks(periodic_task, now):
                if not await self.defer_tick(periodic_task, timestamp):
                    # Tried again at the next wake-up, with the ticks after it
                    # (a second never holds two ticks).
                    self.last_defers.setdefault(key, timestamp - 1)
                    break
                self.last_defers[key] = timestamp

    async def defer_tick(self, periodic_task: periodic.PeriodicTask, timestamp: int) -> bool:
        """Defer the job of one tick. False when it should be tried again
        (a database error); True when the tick is done with: deferred, found
        already deferred, skipped for a taken queueing lock, or impossible
        to defer (the error is logged)."""
        task = periodic_task.task
        options: dict[str, Any] = dict(periodic_task.configure_kwargs)
        options["task_kwargs"] = {**(options.get("task_kwargs") or {}), "timestamp": timestamp}
        description = {
            "task_name": task.name,
            "periodic_id": periodic_task.periodic_id,
            "defer_timestamp": timestamp,
            "kwargs": options,
        }

        def log(level: int, action: str, message: str, **extra: Any) -> bool:
            exc_info = level == logging.ERROR
            logger.log(
                level, message, exc_info=exc_info, extra={"action": action, **extra, **description}
            )
            return True

        failed = f"Could not defer periodic task {task.name} for timestamp {timestamp}"
        try:
            deferrer = task.configure(**options)
            job = deferrer.job
            job_id = await deferrer.job_manager.defer_periodic_job(
                job, periodic_task.periodic_id, timestamp, retry_policy=deferrer.retry_policy
            )
        except exceptions.AlreadyEnqueued:
            return log(
                logging.DEBUG,
                "skip_periodic_task_queueing_lock",
                f"Periodic job {job.call_string} cannot be enqueued: there is already "
                f"a job in the queue with the queueing lock {job.queueing_lock}",
                queueing_lock=job.queueing_lock,
            )
        except exceptions.ConnectorException:
            log(logging.ERROR, "periodic_task_defer_error", f"{failed}, will try again")
            return False
        except Exception:
            return log(logging.ERROR, "periodic_task_defer_error", failed)
        if job_id is None:
            return log(
                logging.DEBUG,
                "periodic_task_already_deferred",
                f"Periodic job {job.call_string} skipped for timestamp {timestamp}: "
                "already deferred",
                job=job.log_context(),
            )
        job = job.evolve(id=job_id)
        return log(
            logging.INFO,
            "periodic_task_deferred",
            f"Periodic job {job.call_string} deferred for timestamp {timestamp} with id {job_id}",
            job=job.log_context(),
        )
