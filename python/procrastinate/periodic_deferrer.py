"""The worker's periodic deferrer: defers one job per tick of each periodic
task (``@app.periodic``). Every worker runs one; the database keeps each tick
to one job (``procrastinate_defer_periodic_job_v1``), so any number of
workers may run side by side.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from procrastinate import exceptions

if TYPE_CHECKING:
    from procrastinate import periodic

logger = logging.getLogger(__name__)

#: Ticks older than this (seconds) when the deferrer starts are skipped.
MAX_DELAY = 600.0
#: Sleep that much past a tick so as never to wake just before it.
MARGIN = 0.5


class PeriodicDeferrer:
    def __init__(self, registry: periodic.PeriodicRegistry, max_delay: float = MAX_DELAY):
        self.registry = registry
        self.max_delay = max_delay
        #: {(task name, periodic_id): timestamp of the last tick deferred}
        self.last_ticks: dict[tuple[str, str], int] = {}

    async def run(self) -> None:
        """Defer ticks as they come, until cancelled."""
        if not self.registry.periodic_tasks:
            logger.info(
                "No periodic task found, periodic deferrer will not run.",
                extra={"action": "periodic_deferrer_no_task"},
            )
            return
        while True:
            now = time.time()
            for periodic_task, timestamp in list(self.due_ticks(now)):
                await self.defer_tick(periodic_task, timestamp)
            wait = self.seconds_to_next_tick(now)
            logger.debug(
                f"Periodic deferrer waiting for next tasks to defer ({wait:.0f} s)",
                extra={"action": "wait_next_tick", "next_tick": wait},
            )
            await asyncio.sleep(wait + MARGIN)

    def seconds_to_next_tick(self, now: float) -> float:
        return min(
            pt.croniter.get_next(float, now) for pt in self.registry.periodic_tasks.values()
        ) - now

    def due_ticks(self, now: float) -> Iterator[tuple[periodic.PeriodicTask, int]]:
        """Ticks not deferred yet: every tick since the last one deferred;
        at start, only the latest past tick, if not older than max_delay."""
        for key, periodic_task in self.registry.periodic_tasks.items():
            cron = periodic_task.croniter
            last = self.last_ticks.get(key)
            if last is None:
                timestamp = round(cron.get_prev(float, now))
                if now - timestamp > self.max_delay:
                    logger.debug(
                        f"Ignoring periodic task {periodic_task.task.name} scheduled "
                        f"more than {self.max_delay} s ago ({now - timestamp:.0f} s)",
                        extra={"action": "ignore_periodic_task", "task": key[0]},
                    )
                    continue
                timestamps = [timestamp]
            else:
                timestamps = []
                cron.set_current(last)
                while (timestamp := round(cron.get_next(float))) <= now:
                    timestamps.append(timestamp)
            for timestamp in timestamps:
                self.last_ticks[key] = timestamp
                yield periodic_task, timestamp

    async def defer_tick(self, periodic_task: periodic.PeriodicTask, timestamp: int) -> None:
        task = periodic_task.task
        options: dict[str, Any] = dict(periodic_task.configure_kwargs)
        options["task_kwargs"] = {**(options.get("task_kwargs") or {}), "timestamp": timestamp}
        description = {
            "task_name": task.name,
            "periodic_id": periodic_task.periodic_id,
            "defer_timestamp": timestamp,
        }
        try:
            deferrer = task.configure(**options)
            job = deferrer.job
            job_id = await deferrer.job_manager.defer_periodic_job(
                job,
                periodic_task.periodic_id,
                timestamp,
                retry_policy=deferrer.retry_policy,
            )
        except exceptions.AlreadyEnqueued:
            logger.debug(
                f"Periodic job {task.name} cannot be enqueued: there is already a job "
                f"in the queue with the queueing lock {job.queueing_lock}",
                extra={"action": "skip_periodic_task_queueing_lock", **description},
            )
            return
        except Exception:
            logger.exception(
                f"Could not defer periodic task {task.name} for timestamp {timestamp}",
                extra={"action": "periodic_task_defer_error", **description},
            )
            return
        if job_id:
            job = job.evolve(id=job_id)
            logger.info(
                f"Periodic job {job.call_string} deferred for timestamp "
                f"{timestamp} with id {job_id}",
                extra={"action": "periodic_task_deferred", **description},
            )
        else:
            logger.debug(
                f"Periodic job {job.call_string} skipped for timestamp {timestamp}: "
                "already deferred",
                extra={"action": "periodic_task_already_deferred", **description},
            )
