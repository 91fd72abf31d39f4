"""Giving jobs back: claimed-ahead jobs released unstarted, and
unregistering, which releases whatever the worker still holds. Best effort:
what cannot be given back stays held by this worker until it unregisters
(or, if the process dies, until the stalled-worker rescue).
"""

from __future__ import annotations

import logging
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
    """Give back claimed jobs that never started."""
    if not claimed or state.worker_id is None:
        return
    timeout = (
        IMMEDIATE_STOP_REPORT_TIMEOUT
        if state.stop_now.is_set()
        else state.options.database_timeout
    )
    job_ids = [job.id for job in claimed if job.id is not None]
    for job_id in job_ids:
        state.deadlines.pop(job_id, None)
    # Still the worker's while the call runs: a comparison of what it holds
    # (worker.reconcile) must not take them back as lost meanwhile.
    state.releasing.update(job_ids)
    try:
        await _release(state, job_manager, state.worker_id, job_ids, why, timeout)
    finally:
        state.releasing.difference_update(job_ids)


async def _release(
    state: WorkerState,
    job_manager: manager.JobManager,
    worker_id: int,
    job_ids: list[int],
    why: str,
    timeout: float,
) -> None:
    try:
        released = await utils.wait_for(
            job_manager.release_jobs_async(worker_id, job_ids), timeout
        )
    except Exception as exc:
        state.log(
            logging.WARNING,
            "release_jobs_error",
            f"Could not give back {len(job_ids)} job(s) claimed ahead ({why}): {exc!r}; "
            "the database takes them back when this worker next compares what it "
            "holds (worker.reconcile), or when it unregisters",
            exception=repr(exc),
        )
        return
    state.log(
        logging.DEBUG,
        "release_jobs",
        f"Gave back {len(released)} job(s) claimed ahead and not started ({why})",
        job_ids=released,
        reason=why,
    )
    if kept := sorted(set(job_ids) - set(released)):
        state.kept.update(kept)
        state.log(
            logging.INFO,
            "release_jobs_kept",
            f"{len(kept)} job(s) claimed ahead stay with this worker until it "
            f"unregisters, their queueing lock being taken by a waiting job: {kept}",
            job_ids=kept,
            reason=why,
        )


async def unregister(state: WorkerState, job_manager: manager.JobManager) -> None:
    worker_id, state.worker_id = state.worker_id, None
    if worker_id is None:
        return
    try:
        released = await state.db_call(job_manager.unregister_worker_async(worker_id))
    except Exception as exc:
        state.log(
            logging.ERROR,
            "unregister_worker_error",
            f"Could not unregister worker {worker_id}: {exc}",
            exc_info=exc,
        )
        return
    state.log(
        logging.DEBUG,
        "unregister_worker",
        f"Unregistered finished worker {worker_id} from the database"
        + (f" ({released} unfinished job(s) released)" if released else ""),
        released=released,
    )
