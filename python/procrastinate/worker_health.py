"""Database health of a worker: outage tracking, the heartbeat, and the
stalled-job rescue the SQL core asks every live worker to run.

Kept apart from the producer because none of it is on the path of a job:
it runs beside the jobs, to say when the database is gone and back (once
per outage, not once per failed call), to keep this worker alive in the
database, and to take back the jobs of workers that stopped beating.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from procrastinate import job_context

if TYPE_CHECKING:
    from procrastinate import worker

AbortReason = job_context.AbortReason


class Health:
    def __init__(self, worker: worker.Worker):
        self.worker = worker
        # Database outage tracking: when calls started failing (None: they work).
        self.db_down_since: float | None = None

    # --- outages -------------------------------------------------------------------

    def database_failed(self, what: str, error: BaseException, log: bool = True) -> None:
        """Log a failed database call; the first one of an outage says so
        (``log=False``: the caller logged it)."""
        worker = self.worker
        if isinstance(error, asyncio.TimeoutError):
            error = TimeoutError(f"no answer within {worker.database_timeout:g} s")
        if not log:
            if self.db_down_since is None:
                self.db_down_since = time.monotonic()
            return
        if self.db_down_since is None:
            self.db_down_since = time.monotonic()
            worker.logger.error(
                f"Database unavailable: could not {what} ({error!r}); "
                "will retry; outcomes are kept until they can be reported",
                extra=worker.log_extra("database_unavailable", exception=repr(error)),
            )
        else:
            worker.logger.warning(
                f"Database still unavailable: could not {what} ({error!r})",
                extra=worker.log_extra("database_still_unavailable", exception=repr(error)),
            )

    def database_works(self) -> None:
        """A database call succeeded: end the outage, if any, and say so."""
        if self.db_down_since is None:
            return
        worker = self.worker
        lasted = time.monotonic() - self.db_down_since
        self.db_down_since = None
        worker.logger.warning(
            f"Database available again after {lasted:.1f} s: service resumed",
            extra=worker.log_extra("database_available", outage_seconds=lasted),
        )
        # What was missed meanwhile (notifications, aborts): look now.
        worker._wake.set()
        worker.aborts.check_soon()

    # --- heartbeat and rescue ------------------------------------------------------

    async def rescue_stalled_jobs(self) -> None:
        worker = self.worker
        # The database decides who is stalled (each worker's lease) and
        # whether this worker may rescue yet (not within a lease of a gap in
        # its own heartbeat, so that after an outage that silenced every
        # worker the live ones get that long to beat again).
        rescued = await worker.db_call(
            worker.app.job_manager.rescue_stalled_jobs_async(worker.worker_id)
        )
        for row in rescued:
            worker.logger.warning(
                f"Took back job {row['job_id']} from a stalled worker: now {row['status']}",
                extra=worker.log_extra("rescued_stalled_job", **row),
            )

    async def heartbeat_loop(self) -> None:
        """Beat every update_heartbeat_interval, until cancelled (after the
        drain at shutdown), then rescue the jobs of stalled workers."""
        worker = self.worker
        manager = worker.app.job_manager
        while True:
            await asyncio.sleep(worker.update_heartbeat_interval)
            try:
                assert worker.worker_id is not None
                alive = await worker.db_call(manager.heartbeat_async(worker.worker_id))
                if not alive:
                    await self.register_again()
                self.database_works()
            except Exception as exc:
                self.database_failed("send a heartbeat", exc)
                continue
            try:
                await self.rescue_stalled_jobs()
            except Exception as exc:
                self.database_failed("rescue stalled jobs", exc)

    async def register_again(self) -> None:
        """We were declared dead (silent past stalled_worker_timeout) and our
        jobs were taken back: register anew, and abort the runs we still
        hold, whose outcomes the database will refuse anyway."""
        worker = self.worker
        old_id = worker.worker_id
        worker.worker_id = await worker.db_call(
            worker.app.job_manager.register_worker_async(
                worker.worker_name,
                worker.queues,
                worker.concurrency,
                worker.stalled_worker_timeout,
            )
        )
        worker.logger.warning(
            f"Worker {old_id} was removed from the database as stalled; "
            f"registered again as {worker.worker_id}; "
            f"{len(worker._running)} job(s) it held were taken back and are aborted here",
            extra=worker.log_extra("register_worker_again", old_worker_id=old_id),
        )
        for run in list(worker._running.values()):
            if not run.flag.is_set():
                worker.aborts.abort(run, AbortReason.SHUTDOWN)
        worker._buffer.clear()  # taken back with the rest
