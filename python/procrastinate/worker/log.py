"""What the worker logs about itself and its jobs: the ``extra`` every record
carries, and the end-of-job lines.

``log_extra`` takes the worker's state first and is bound in WorkerState as
its method: the end of each job logs through it, so a method defined here
costs no extra call per job.
Messages and ``extra`` contents are an interface (log processing filters on
them): change them knowingly.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from procrastinate.worker.executor import JobRun
    from procrastinate.worker.state import WorkerState

# The end-of-job lines go to the worker module's logger, as they always did
# (not to the worker's child logger): configurations select them by name.
logger = logging.getLogger("procrastinate.worker")


def log_extra(
    state: WorkerState, action: str, run: JobRun | None = None, **kwargs: Any
) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "action": action,
        "worker": {
            "name": state.options.name,
            "worker_id": state.worker_id,
            "job_id": run.job.id if run else None,
            "queues": list(state.options.queues or []),
        },
    }
    if run is not None:
        extra["job"] = run.job.log_context()
        extra.update(run.job_result().as_dict())
    return {**extra, **kwargs}


def job_reported(state: WorkerState, run: JobRun, result: dict[str, Any]) -> None:
    """Log the end of a job, once the database said what became of it."""
    kind = run.outcome_kind
    status = result.get("status") if result.get("accepted") else None
    if not result.get("accepted"):
        state.logger.warning(
            f"Outcome of job {run.job.call_string} was not recorded "
            f"({result.get('reason')}): the job was taken back from this worker",
            extra=state.log_extra("outcome_not_recorded", run, reason=result.get("reason")),
        )
    if status is None:
        status = {"succeeded": "succeeded", "aborted": "aborted"}.get(kind, "failed")
    if status == "todo":
        title = "Aborted, to retry" if kind == "aborted" else "Error, to retry"
        action = "job_aborted_retry" if kind == "aborted" else "job_error_retry"
    else:
        title, action = {
            "succeeded": ("Success", "job_success"),
            "aborted": ("Aborted", "job_aborted"),
        }.get(status, ("Error", "job_error"))
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
        state.logger.debug(
            f"Acknowledged job completion {run.job.call_string}",
            extra=state.log_extra("finish_task", run, status=status),
        )
