"""Database health of a worker: outage tracking, its lease, and the fence
that stops its jobs before the lease runs out.

Kept apart from the producer because none of it is on the path of a job:
it runs beside the jobs, to say when the database is gone and back (once
per outage, not once per failed call), to know how long the jobs it holds
are still its own, and to let them go in time when it cannot renew.

The lease (sql/58_leases.sql) is renewed in the database by every
successful heartbeat, fetch and finish; it runs out a lease's length after
the last one, and other workers may then take its jobs. The worker counts
from the moment it *sent* its last successful call (the database renewed
the lease at or after that moment), and fences itself at FENCE_SHARE of the
lease: it stops fetching and aborts its running jobs, jobs with a lock
first, so that they have stopped when the lease runs out. The next
heartbeat that gets through lifts the fence.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from procrastinate import job_context, jobs
from procrastinate.worker_release import release_buffered

if TYPE_CHECKING:
    from procrastinate import worker

AbortReason = job_context.AbortReason

#: Share of the lease without a successful call after which the worker
#: fences itself (the rest is the time its jobs have to stop).
FENCE_SHARE = 0.75
#: How often the fence looks at the lease (seconds), at most.
FENCE_CHECK_INTERVAL = 0.25


class Lease:
    """What the worker knows of its lease (event loop only)."""

    def __init__(self, length: float, renewed_at: float):
        self.length = length  # seconds, as the last heartbeat said
        self.renewed_at = renewed_at  # monotonic send time of the last success
        self.fenced = False

    def renew(self, sent_at: float, length: float | None = None) -> None:
        self.renewed_at = max(self.renewed_at, sent_at)
        if length is not None:
            self.length = length

    def silent_for(self) -> float:
        return time.monotonic() - self.renewed_at

    def fence_due(self) -> bool:
        return not self.fenced and self.silent_for() >= self.length * FENCE_SHARE


class Health:
    def __init__(self, worker: worker.Worker):
        self.worker = worker
        # Database outage tracking: when calls started failing (None: they work).
        self.db_down_since: float | None = None
        self.lease: Lease | None = None
        # Jobs claimed ahead and dropped by the fence: given back once the
        # lease is renewed.
        self._dropped: list[jobs.Job] = []
        self._registering = False

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
        # What was missed meanwhile (notifications, aborts, outcomes not
        # reported): look and send now.
        worker._wake.set()
        worker.aborts.check_soon()
        worker.reporter.retry_now()

    # --- the lease ---------------------------------------------------------------------

    def start_lease(self, length: float, sent_at: float) -> None:
        self.lease = Lease(length, sent_at)

    def renewed(self, sent_at: float) -> None:
        """A fetch or a finish sent at ``sent_at`` succeeded: a sign of life
        (it does not lift the fence: only a heartbeat says the worker is
        still registered)."""
        if self.lease is not None:
            self.lease.renew(sent_at)

    def beat_succeeded(self, worker_id: int, sent_at: float, length: float | None) -> None:
        """A heartbeat got through (``length``: the lease, None when the
        worker was removed as dead)."""
        worker = self.worker
        if worker_id != worker.worker_id or self.lease is None:
            return  # registered again meanwhile
        self.database_works()
        if length is None:
            if not self._registering:
                self._registering = True
                asyncio.create_task(self.register_again(), name="register_again")
            return
        self.lease.renew(sent_at, length)
        if self.lease.fenced:
            self._lift_fence()

    def beat_failed(self, error: BaseException) -> None:
        self.database_failed("send a heartbeat", error)

    def log_rescued(self, rows: list[dict[str, Any]]) -> None:
        worker = self.worker
        for row in rows:
            worker.logger.warning(
                f"Took back job {row['job_id']} from a stalled worker: now {row['status']}",
                extra=worker.log_extra("rescued_stalled_job", **row),
            )

    async def fence_loop(self) -> None:
        """Until cancelled: fence the worker when its lease is about to run
        out without a renewal."""
        while True:
            lease = self.lease
            assert lease is not None
            await asyncio.sleep(min(FENCE_CHECK_INTERVAL, lease.length / 8))
            if lease.fence_due():
                self._fence()

    def _fence(self) -> None:
        worker = self.worker
        lease = self.lease
        assert lease is not None
        lease.fenced = True
        # Jobs with a lock first: a lock's next job may start elsewhere as
        # soon as the lease runs out.
        runs = sorted(worker._running.values(), key=lambda run: run.job.lock is None)
        worker.logger.error(
            f"No successful database call for {lease.silent_for():.1f} s, "
            f"{FENCE_SHARE:.0%} of this worker's lease ({lease.length:g} s): "
            f"stopping its {len(runs)} running job(s) now, before the lease "
            "runs out and other workers may take them; fetching resumes once a "
            "heartbeat gets through",
            extra=worker.log_extra(
                "lease_fenced", silent_seconds=lease.silent_for(), lease_seconds=lease.length
            ),
        )
        for run in runs:
            if not run.flag.is_set():
                worker.aborts.abort(run, AbortReason.LEASE_LOST)
        self._dropped.extend(worker._buffer.clear())

    def _lift_fence(self) -> None:
        worker = self.worker
        assert self.lease is not None
        self.lease.fenced = False
        worker.logger.warning(
            "Lease renewed: fetching jobs again",
            extra=worker.log_extra("lease_renewed"),
        )
        dropped, self._dropped = self._dropped, []
        if dropped:
            asyncio.create_task(
                release_buffered(worker, dropped, "lease was lost"), name="release_dropped"
            )
        worker._wake.set()

    # --- heartbeat on the event loop (connectors without a side connection) -------

    async def heartbeat_loop(self) -> None:
        """Beat every update_heartbeat_interval on the event loop, until
        cancelled; used when the connector cannot give the heartbeat thread
        a connection of its own (worker_heartbeat)."""
        worker = self.worker
        manager = worker.app.job_manager
        while True:
            await asyncio.sleep(worker.update_heartbeat_interval)
            worker_id = worker.worker_id
            assert worker_id is not None
            sent_at = time.monotonic()
            try:
                length = await worker.db_call(manager.heartbeat_async(worker_id))
            except Exception as exc:
                self.beat_failed(exc)
                continue
            self.beat_succeeded(worker_id, sent_at, length)
            if length is None:
                continue
            try:
                await self.rescue_stalled_jobs()
            except Exception as exc:
                self.database_failed("rescue stalled jobs", exc)

    async def rescue_stalled_jobs(self) -> None:
        worker = self.worker
        # The database decides who is stalled (each worker's lease) and
        # whether this worker may rescue yet (not within a lease of its own
        # lease running out).
        self.log_rescued(
            await worker.db_call(
                worker.app.job_manager.rescue_stalled_jobs_async(worker.worker_id)
            )
        )

    async def register_again(self) -> None:
        """We were declared dead (our lease ran out) and our jobs were taken
        back: register anew, and abort the runs we still hold, whose
        outcomes the database will refuse anyway."""
        worker = self.worker
        old_id = worker.worker_id
        try:
            sent_at = time.monotonic()
            worker.worker_id = await worker.db_call(
                worker.app.job_manager.register_worker_async(
                    worker.worker_name,
                    worker.queues,
                    worker.concurrency,
                    worker.stalled_worker_timeout,
                )
            )
        except Exception as exc:
            self.database_failed("register again", exc)
            return
        finally:
            self._registering = False
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
        self._dropped = []  # taken back too
        assert self.lease is not None
        self.lease.renew(sent_at)
        if self.lease.fenced:
            self._lift_fence()
