"""Reconciling: the jobs the worker holds, compared with those the database
gives it (``procrastinate_reconcile_held_jobs_v1``). They differ after a
failover to a standby that missed the old primary's last commits: a report
acknowledged then lost leaves its job in doing under the worker's live lease,
where no rescue would ever take it (the database takes it back now); a claim
lost leaves the worker running a job that is not its own (its run stops).

The producer reconciles between two fetches (during one, the jobs it claims
would look forgotten): at once after an outage, and every
``update_heartbeat_interval`` otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from procrastinate.job_context import AbortReason

if TYPE_CHECKING:
    from procrastinate import manager
    from procrastinate.worker.executor import JobRun
    from procrastinate.worker.reporter import Reporter
    from procrastinate.worker.state import WorkerState


class Reconciler:
    def __init__(
        self,
        state: WorkerState,
        job_manager: manager.JobManager,
        reporter: Reporter,
        abort: Callable[[JobRun, AbortReason], None],
    ):
        self.state = state
        self.job_manager = job_manager
        self.reporter = reporter
        self.abort = abort
        self._last = time.monotonic()
        self._soon = False
        state.on_database_back.append(self.soon)

    def soon(self) -> None:
        """Reconcile before the next fetch (the database is back: commits
        may have been lost with the server that went away)."""
        self._soon = True

    @property
    def due(self) -> bool:
        elapsed = time.monotonic() - self._last
        return self._soon or elapsed >= self.state.options.update_heartbeat_interval

    def held(self) -> list[int]:
        """Every job claimed and not seen reported: claimed ahead, running,
        its outcome on the way, being given back, or kept (worker.release)."""
        state = self.state
        held = {
            *state.buffer.job_ids(), *state.running, *self.reporter.job_ids(),
            *state.kept, *state.releasing,
        }
        return sorted(held)

    async def run(self) -> None:
        """Reconcile once. A failure waits for the next time (the database
        back, or the interval): the fetch that follows meets the outage
        too, and trying before each of its retries would double them."""
        state = self.state
        assert state.worker_id is not None
        self._last = time.monotonic()
        self._soon = False
        try:
            differences = await state.db_call(
                self.job_manager.reconcile_held_jobs_async(state.worker_id, self.held())
            )
        except Exception as exc:
            state.database_failed("compare the jobs held", exc)
            return
        for row in differences:
            if row["worker_knew"]:
                self._not_ours(row["job_id"], row["status"])
            else:
                state.log(
                    logging.WARNING,
                    "held_job_taken_back",
                    f"Job {row['job_id']} was held by this worker in the database, "
                    "which no longer knew of it (its outcome was lost, as in a "
                    f"failover): taken back, now {row['status']}",
                    job_id=row["job_id"],
                    status=row["status"],
                )

    def _not_ours(self, job_id: int, status: str | None) -> None:
        """The database does not give this job to the worker: drop it if
        claimed ahead, stop it if running (its outcome is not reported)."""
        state = self.state
        state.kept.discard(job_id)
        dropped = bool(state.buffer.remove([job_id]))
        run = state.running.get(job_id)
        if run is not None:
            run.disowned = True
            if not run.flag.is_set():
                self.abort(run, AbortReason.LEASE_LOST)
        if dropped or run is not None:
            state.log(
                logging.WARNING,
                "held_job_not_ours",
                f"Job {job_id} is not this worker's in the database (status "
                f"{status or 'gone'}; its claim was lost, as in a failover): "
                + ("its run is stopped" if run is not None else "not started"),
                job_id=job_id,
                status=status,
            )
