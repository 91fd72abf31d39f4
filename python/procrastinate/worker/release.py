"""Giving jobs back to the database: claimed-ahead jobs released unstarted
(when the worker stops, or when an abort is requested for one of them), and
unregistering, which releases whatever the worker still holds.

Both are best effort: a job that cannot be given back stays held by this
worker, and unregistering (or, if this process dies, the stalled-worker
rescue) puts it back in the queue; nothing is lost by a failure here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from procrastinate import utils

if TYPE_CHECKING:
    from procrastinate import jobs, manager
    from procrastinate.worker.state import WorkerState

#: On an immediate stop, how long outcomes already known may take to be sent.
IMMEDIATE_STOP_REPORT_TIMEOUT = 3.0


async def release_buffered(
    state: WorkerState, job_manager: manager.JobManager, claimed: list[jobs.Job], why: str
) -> None:
    """Give back claimed jobs that never started. If that fails, they stay
    ours: unregistering (or the stalled-worker rescue) puts them back."""
    if not claimed or state.worker_id is None:
        return
    timeout = (
        IMMEDIATE_STOP_REPORT_TIMEOUT
        if state.stop_now.is_set()
        else state.options.database_timeout
    )
    job_ids = [job.id for job in claimed if job.id is not None]
    try:
        released = await utils.wait_for(
            job_manager.release_jobs_async(state.worker_id, job_ids), timeout
        )
    except Exception as exc:
        state.logger.warning(
            f"Could not give back {len(job_ids)} job(s) claimed ahead ({why}): {exc!r}; "
            "they go back to the queue when this worker unregisters",
            extra=state.log_extra("release_jobs_error", exception=repr(exc)),
        )
        return
    state.logger.debug(
        f"Gave back {len(released)} job(s) claimed ahead and not started ({why})",
        extra=state.log_extra("release_jobs", job_ids=released, reason=why),
    )
    kept = sorted(set(job_ids) - set(released))
    if kept:
        # Their queueing lock is taken by a waiting job: they go back to
        # the queue as retries when this worker unregisters.
        state.logger.info(
            f"{len(kept)} job(s) claimed ahead stay with this worker until it "
            f"unregisters, their queueing lock being taken by a waiting job: {kept}",
            extra=state.log_extra("release_jobs_kept", job_ids=kept, reason=why),
        )


async def unregister(state: WorkerState, job_manager: manager.JobManager) -> None:
    worker_id, state.worker_id = state.worker_id, None
    if worker_id is None:
        return
    try:
        released = await state.db_call(job_manager.unregister_worker_async(worker_id))
    except Exception as exc:
        state.logger.exception(
            f"Could not unregister worker {worker_id}: {exc}",
            extra=state.log_extra("unregister_worker_error"),
        )
        return
    state.logger.debug(
        f"Unregistered finished worker {worker_id} from the database"
        + (f" ({released} unfinished job(s) released)" if released else ""),
        extra=state.log_extra("unregister_worker", released=released),
    )
