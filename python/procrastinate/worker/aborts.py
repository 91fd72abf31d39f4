"""Aborting jobs: the worker's abort checks, and how a run is told to stop.

An abort is requested in the database (``cancel_job_by_id_async(abort=True)``);
the worker asks the database which of its jobs are to abort, on an
``abort_requested`` notification (worker.listener) or every
``abort_job_polling_interval``: a notification is only a hint, the database
confirms. The same ``abort`` serves the worker's own shutdown aborts, and
``abort_at_once`` is the immediate stop's (stop_now, a second signal).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from procrastinate import job_context, utils
from procrastinate.worker.release import IMMEDIATE_STOP_REPORT_TIMEOUT, release_buffered

if TYPE_CHECKING:
    from procrastinate import manager
    from procrastinate.worker.executor import JobRun
    from procrastinate.worker.reporter import Reporter
    from procrastinate.worker.state import WorkerState

AbortReason = job_context.AbortReason


class Aborts:
    def __init__(self, state: WorkerState, job_manager: manager.JobManager):
        self.state = state
        self.job_manager = job_manager
        self._check = asyncio.Event()  # the abort loop should ask the database

    def check_soon(self) -> None:
        """Ask the database for jobs to abort now, not at the next poll."""
        self._check.set()

    async def loop(self) -> None:
        state = self.state
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await utils.wait_for(
                    self._check.wait(), state.options.abort_job_polling_interval
                )
            self._check.clear()
            if not state.running and not state.buffer:
                continue
            try:
                assert state.worker_id is not None
                job_ids = await state.db_call(self.job_manager.jobs_to_abort_async(state.worker_id))
            except Exception as exc:
                state.database_failed("check for jobs to abort", exc)
                continue
            for job_id in job_ids:
                run = state.running.get(job_id)
                if run is not None and not run.flag.is_set():
                    self.abort(run, AbortReason.USER_REQUEST)
            # Claimed ahead, never started: given back (they end cancelled).
            await release_buffered(
                state, self.job_manager, state.buffer.remove(job_ids), "abort requested"
            )

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
        self.state.logger.debug(
            f"Received a request to abort {message}",
            extra=self.state.log_extra("abort_job", run, reason=reason.value),
        )

    async def abort_at_once(self, reporter: Reporter) -> None:
        """The immediate stop's: abort every run, give async ones a moment to
        end, send what outcomes are known."""
        state = self.state
        runs = list(state.running.values())
        for run in runs:
            if not run.flag.is_set() or run.is_async:
                self.abort(run, AbortReason.SHUTDOWN)
        cancelled = [run.job.id for run in runs if run.is_async]
        if cancelled:
            await state.wait_until(
                lambda: not any(job_id in state.running for job_id in cancelled),
                IMMEDIATE_STOP_REPORT_TIMEOUT,
            )
        if not await reporter.drain(IMMEDIATE_STOP_REPORT_TIMEOUT):
            state.logger.warning(
                f"{reporter.pending} job outcome(s) could not be reported",
                extra=state.log_extra("outcomes_not_reported"),
            )
        for run in state.running.values():
            state.logger.warning(
                f"Job {run.job.call_string} still running at exit: back to the queue",
                extra=state.log_extra("job_left_running", run),
            )
