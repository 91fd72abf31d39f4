"""A worker's lease, and the fence that stops its jobs before the lease runs
out (docs/reliability.md).

The lease (sql/58_leases.sql) is renewed by every successful heartbeat,
fetch and finish, and runs out a lease's length after the last one; other
workers may then take the jobs. The worker counts from when it *sent* its
last successful call, and fences itself at FENCE_SHARE of the lease: it
fetches no more and aborts its running jobs, those with a lock first, so
that they have stopped when the lease runs out. The next heartbeat that
gets through lifts the fence.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procrastinate import job_context, jobs
from procrastinate.worker.release import release_buffered

if TYPE_CHECKING:
    from procrastinate import manager
    from procrastinate.worker.executor import JobRun
    from procrastinate.worker.state import WorkerState

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
    def __init__(
        self,
        state: WorkerState,
        job_manager: manager.JobManager,
        abort: Callable[[JobRun, AbortReason], None],
    ):
        self.state = state
        self.job_manager = job_manager
        self.abort = abort
        self.lease: Lease | None = None
        # Jobs claimed ahead and dropped by the fence: given back once the
        # lease is renewed.
        self._dropped: list[jobs.Job] = []
        self._registering = False

    async def register(self) -> float:
        """Register (again); returns when the call was sent."""
        state, options = self.state, self.state.options
        sent_at = time.monotonic()
        state.worker_id = await state.db_call(
            self.job_manager.register_worker_async(
                options.worker_name,
                options.queues,
                options.concurrency,
                options.stalled_worker_timeout,
            )
        )
        return sent_at

    async def start(self) -> None:
        """Register and take the lease the database gives (registering
        again should the registration be removed at once)."""
        length = None
        while length is None:
            removed = self.state.worker_id
            sent_at = await self.register()
            if removed is not None:
                self.state.log(
                    logging.WARNING,
                    "register_worker_again",
                    f"Worker {removed} was removed from the database as stalled; "
                    f"registered again as {self.state.worker_id}; it held no job yet",
                    old_worker_id=removed,
                )
            assert self.state.worker_id is not None
            length = await self.state.db_call(
                self.job_manager.heartbeat_async(self.state.worker_id)
            )
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
        if worker_id != self.state.worker_id or self.lease is None:
            return  # registered again meanwhile
        self.state.database_works()
        if length is not None and self.state.metrics is not None:
            self.state.metrics.heartbeat()
        if length is None:
            if not self._registering:
                self._registering = True
                asyncio.create_task(self.register_again(), name="register_again")
            return
        self._renew(sent_at, length)

    def beat_failed(self, error: BaseException) -> None:
        self.state.database_failed("send a heartbeat", error)

    def log_rescued(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.state.log(
                logging.WARNING,
                "rescued_stalled_job",
                f"Took back job {row['job_id']} from a stalled worker: now {row['status']}",
                **row,
            )

    async def fence_loop(self) -> None:
        while True:
            lease = self.lease
            assert lease is not None
            await asyncio.sleep(min(FENCE_CHECK_INTERVAL, lease.length / 8))
            if lease.fence_due():
                self._fence()

    def _fence(self) -> None:
        state = self.state
        lease = self.lease
        assert lease is not None
        lease.fenced = True
        # Jobs with a lock first: a lock's next job may start elsewhere as
        # soon as the lease runs out.
        runs = sorted(state.running.values(), key=lambda run: run.job.lock is None)
        state.log(
            logging.ERROR,
            "lease_fenced",
            f"No successful database call for {lease.silent_for():.1f} s, "
            f"{FENCE_SHARE:.0%} of this worker's lease ({lease.length:g} s): "
            f"stopping its {len(runs)} running job(s) now, before the lease "
            "runs out and other workers may take them; fetching resumes once a "
            "heartbeat gets through",
            silent_seconds=lease.silent_for(),
            lease_seconds=lease.length,
        )
        self._abort_all(AbortReason.LEASE_LOST, runs)
        self._dropped.extend(state.buffer.clear())

    def _abort_all(self, reason: AbortReason, runs: list[JobRun]) -> None:
        for run in runs:
            if not run.flag.is_set():
                self.abort(run, reason)

    def _lift_fence(self) -> None:
        state = self.state
        assert self.lease is not None
        self.lease.fenced = False
        state.log(logging.WARNING, "lease_renewed", "Lease renewed: fetching jobs again")
        dropped, self._dropped = self._dropped, []
        if dropped:
            asyncio.create_task(
                release_buffered(state, self.job_manager, dropped, "lease was lost"),
                name="release_dropped",
            )
        state.wake.set()

    async def heartbeat_loop(self) -> None:
        """Beat on the event loop, until cancelled: for connectors that cannot
        give the heartbeat thread (worker.heartbeat) a connection of its own."""
        state = self.state
        while True:
            await asyncio.sleep(state.options.update_heartbeat_interval)
            worker_id = state.worker_id
            assert worker_id is not None
            sent_at = time.monotonic()
            try:
                length = await state.db_call(self.job_manager.heartbeat_async(worker_id))
            except Exception as exc:
                self.beat_failed(exc)
                continue
            self.beat_succeeded(worker_id, sent_at, length)
            if length is None:
                continue
            try:
                await self.rescue_stalled_jobs()
            except Exception as exc:
                state.database_failed("rescue stalled jobs", exc)

    async def rescue_stalled_jobs(self) -> None:
        # The database decides who is stalled (each worker's lease) and
        # whether this worker may rescue yet (not within a lease of its own
        # lease running out).
        self.log_rescued(
            await self.state.db_call(
                self.job_manager.rescue_stalled_jobs_async(self.state.worker_id)
            )
        )

    async def register_again(self) -> None:
        """We were declared dead (our lease ran out) and our jobs were taken
        back: register anew, and abort the runs we still hold, whose
        outcomes the database will refuse anyway."""
        state = self.state
        old_id = state.worker_id
        try:
            sent_at = await self.register()
        except Exception as exc:
            state.database_failed("register again", exc)
            return
        finally:
            self._registering = False
        state.log(
            logging.WARNING,
            "register_worker_again",
            f"Worker {old_id} was removed from the database as stalled; "
            f"registered again as {state.worker_id}; "
            f"{len(state.running)} job(s) it held were taken back and are aborted here",
            old_worker_id=old_id,
        )
        self._abort_all(AbortReason.SHUTDOWN, list(state.running.values()))
        state.buffer.clear()  # taken back with the rest
        self._dropped = []  # taken back too
        self._renew(sent_at)

    def _renew(self, sent_at: float, length: float | None = None) -> None:
        """Renewed by a call that says the worker is still registered: lifts
        the fence."""
        assert self.lease is not None
        self.lease.renew(sent_at, length)
        if self.lease.fenced:
            self._lift_fence()
