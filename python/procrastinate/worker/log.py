"""The end-of-job log lines. Their messages and ``extra`` are an interface
(log processing filters on them): change them knowingly."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from procrastinate.worker.executor import JobRun
    from procrastinate.worker.state import WorkerState

# The end-of-job lines go to the worker module's logger, as they always did
# (not to the worker's child logger): configurations select them by name.
logger = logging.getLogger("procrastinate.worker")


def job_reported(state: WorkerState, run: JobRun, result: dict[str, Any]) -> None:
    """Log the end of a job, once the database said what became of it."""
    kind, accepted = run.outcome_kind, result.get("accepted")
    if not accepted:
        state.log(
            logging.WARNING,
            "outcome_not_recorded",
            f"Outcome of job {run.job.call_string} was not recorded "
            f"({result.get('reason')}): the job was taken back from this worker",
            run,
            reason=result.get("reason"),
        )
    status = (accepted and result.get("status")) or (
        kind if kind in ("succeeded", "aborted") else "failed"
    )
    ended = ("aborted" if kind == "aborted" else "failed") if status == "todo" else status
    if state.metrics is not None:
        state.metrics.job_finished(
            run, "not_recorded" if not accepted else "retried" if status == "todo" else status
        )
    title, action = {
        "succeeded": ("Success", "job_success"),
        "aborted": ("Aborted", "job_aborted"),
    }.get(ended, ("Error", "job_error"))
    if status == "todo":
        title, action = f"{title}, to retry", f"{action}_retry"
    level = logging.ERROR if status == "failed" else logging.INFO
    # Guarded: building these records costs more than a no-op job.
    if logger.isEnabledFor(level):
        text = f"Job {run.job.call_string} ended with status: {title}, "
        if run.end_timestamp is not None:
            text += f"lasted {run.end_timestamp - run.context.start_timestamp:.3f} s"
        if run.result:
            text += f" - Result: {run.result}"[:250]
        logger.log(
            level,
            text,
            exc_info=run.exception or False,
            extra=state.log_extra(action, run, status=status),
        )
    if state.logger.isEnabledFor(logging.DEBUG):
        state.log(
            logging.DEBUG,
            "finish_task",
            f"Acknowledged job completion {run.job.call_string}",
            run,
            status=status,
        )
