"""Tasks shipped with procrastinate, registered on every App under the
``builtin`` namespace."""

from __future__ import annotations

from procrastinate import blueprints, job_context, manager

builtin = blueprints.Blueprint()


@builtin.task(pass_context=True, queue="builtin")
async def remove_old_jobs(
    context: job_context.JobContext,
    *,
    max_hours: int,
    queue: str | None = None,
    remove_failed: bool | None = False,
    remove_cancelled: bool | None = False,
    remove_aborted: bool | None = False,
    batch_size: int = manager.DELETE_OLD_JOBS_BATCH_SIZE,
) -> int:
    """Delete the jobs (and their events) finished more than ``max_hours``
    ago, of ``queue`` (None: all queues): succeeded ones, and failed /
    cancelled / aborted ones when asked. Deletion goes by ``batch_size`` jobs,
    each batch its own transaction, so that a big table is never locked
    long. Returns how many were deleted."""
    return await context.app.job_manager.delete_old_jobs(
        nb_hours=max_hours, queue=queue, batch_size=batch_size, include_failed=remove_failed,
        include_cancelled=remove_cancelled, include_aborted=remove_aborted,
    )
