"""Aborting jobs: the worker's abort checks, and how a run is told to stop.

An abort is requested in the database (``cancel_job_by_id_async(abort=True)``);
the worker asks the database which of its jobs are to abort, on an
``abort_requested`` notification (worker_listener) or every
``abort_job_polling_interval``: a notification is only a hint, the database
confirms. The same ``abort`` serves the worker's own shutdown aborts, and
``abort_at_once`` is the immediate stop's (stop_now, a second signal).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from procrastinate import job_context
from procrastinate.worker_release import IMMEDIATE_STOP_REPORT_TIMEOUT, release_buffered

if TYPE_CHECKING:
    from procrastinate import worker
    from procrastinate.worker_executor import JobRun

AbortReason = job_context.AbortReason


class Aborts:
    def __init__(self, worker: worker.Worker):
        self.worker = worker
        self._check = asyncio.Event()  # the abort loop should ask the database

    def check_soon(self) -> None:
        """Ask the database for jobs to abort now, not at the next poll."""
        self._check.set()

    async def loop(self) -> None:
        worker = self.worker
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._check.wait(), worker.abort_job_polling_interval)
            self._check.clear()
            if not worker._running and not worker._buffer:
                continue
            try:
                assert worker.worker_id is not None
                job_ids = await worker.db_call(
                    worker.app.job_manager.jobs_to_abort_async(worker.worker_id)
                )
            except Exception as exc:
                worker.database_failed("check for jobs to abort", exc)
                continue
            for job_id in job_ids:
                run = worker._running.get(job_id)
                if run is not None and not run.flag.is_set():
                    self.abort(run, AbortReason.USER_REQUEST)
            # Claimed ahead, never started: given back (they end cancelled).
            await release_buffered(worker, worker._buffer.remove(job_ids), "abort requested")

    def abort(self, run: JobRun, reason: AbortReason) -> None:
        run.flag.set(reason)
        if run.task is None:
            message = "the job has no associated task. No action to perform"
        elif not run.is_async:
            message = (
                "a synchronous job. Job is responsible for aborting by checking "
                "context.should_abort"
            )
        else:
            message = "an asynchronous job. Cancelling asyncio task"
            # The slot running the job: set while the job runs, and only then.
            if run.asyncio_task is not None:
                run.asyncio_task.cancel()
        self.worker.logger.debug(
            f"Received a request to abort {message}",
            extra=self.worker.log_extra("abort_job", run, reason=reason.value),
        )

    async def abort_at_once(self) -> None:
        worker = self.worker
        runs = list(worker._running.values())
        for run in runs:
            if not run.flag.is_set() or run.is_async:
                self.abort(run, AbortReason.SHUTDOWN)
        cancelled = [run.job.id for run in runs if run.is_async]
        if cancelled:
            await worker.wait_until(
                lambda: not any(job_id in worker._running for job_id in cancelled),
                IMMEDIATE_STOP_REPORT_TIMEOUT,
            )
        if not await worker.reporter.drain(IMMEDIATE_STOP_REPORT_TIMEOUT):
            worker.logger.warning(
                f"{worker.reporter.pending} job outcome(s) could not be reported",
                extra=worker.log_extra("outcomes_not_reported"),
            )
        for run in worker._running.values():
            worker.logger.warning(
                f"Job {run.job.call_string} still running at exit: back to the queue",
                extra=worker.log_extra("job_left_running", run),
            )
