"""Job timeouts: a job's run is stopped at its deadline: its claim's time
plus the timeout stored with it at defer (the claim starts such a job at
once), or, for a job stored without one whose task has one, the run's start
plus the task's (this worker's alone: the database knows none). An
async job is cancelled (asyncio.CancelledError at the await it waits on); a
sync job gets JobTimeout raised in its thread (worker.threads.Interruptible:
at its next Python bytecode, not inside a blocking C call). Either way the
run fails with JobTimeout (worker.executor), and its retry policy applies.
The database stores the same deadline with the claim, and takes back a job
still running past it and a grace (sql/65_rescue.sql): what the worker
cannot stop is not held forever.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from procrastinate import exceptions

if TYPE_CHECKING:
    from procrastinate import jobs
    from procrastinate.worker.executor import JobRun


def note_deadlines(
    deadlines: dict[int, float], fetched: Iterable[jobs.Job], claimed_at: float
) -> None:
    """Record (time.monotonic) the deadline of each fetched job deferred
    with a timeout, counted from ``claimed_at``: the monotonic time at which
    the fetch was sent, so never later than the deadline the database
    stored. (The claim starts such a job at once: it never waits in the
    buffer, procrastinate_fetch_jobs_v5.)"""
    for job in fetched:
        if job.timeout is not None and job.id is not None:
            deadlines[job.id] = claimed_at + job.timeout


def run_deadline(deadlines: dict[int, float], run: JobRun) -> float | None:
    """The deadline of a run that starts now: its claim's (note_deadlines),
    else, for a job deferred without a timeout (from SQL, or before
    migration 0043) whose task has one, the task's from now, enforced by this
    worker only (the database knows no deadline for it)."""
    deadline = deadlines.pop(run.job_id, None) if deadlines else None
    if deadline is None and run.task is not None and run.task.timeout is not None:
        deadline = time.monotonic() + run.task.timeout
    return deadline


def start_timer(run: JobRun, deadline: float) -> asyncio.TimerHandle:
    """Stop ``run`` at ``deadline`` (time.monotonic, the clock of asyncio's
    default loop); cancel the handle once the run ended."""
    loop = asyncio.get_running_loop()
    return loop.call_later(max(deadline - time.monotonic(), 0.0), expire, run)


def expire(run: JobRun) -> None:
    """The run reached its deadline: interrupt its thread if it runs there
    now, else cancel it on the event loop."""
    run.timed_out = True
    thread = run.thread
    if thread is not None and thread.interrupt(exceptions.JobTimeout):
        return
    if run.asyncio_task is not None:
        run.asyncio_task.cancel()


def timeout_error(run: JobRun) -> exceptions.JobTimeout:
    """The error a timed-out run fails with."""
    timeout = run.job.timeout
    if timeout is None and run.task is not None:
        timeout = run.task.timeout
    return exceptions.JobTimeout(
        f"Job {run.job.call_string} ran past its deadline "
        f"(timeout of {timeout:g} s)"
        if timeout is not None
        else f"Job {run.job.call_string} ran past its deadline"
    )
