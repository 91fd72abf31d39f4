"""Aborting jobs. An abort is requested in the database; the worker asks it
which of its jobs to abort on an ``abort_requested`` notification (only a
hint: the database confirms) or every ``abort_job_polling_interval``. The
same ``abort`` serves the shutdown's aborts; ``abort_at_once`` is the
immediate stop's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from procrastinate import job_context
from procrastinate.worker.release import IMMEDIATE_STOP_REPORT_TIMEOUT, release_buffered
from procrastinate.worker.state import wait_event

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
            await wait_event(self._check, state.options.abort_job_polling_interval)
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
        self.state.log(
            logging.DEBUG,
            "abort_job",
            f"Received a request to abort {message}",
            run,
            reason=reason.value,
        )

    async def wind_down(self, reporter: Reporter, graceful_timeout: float | None) -> None:
        """The shutdown's: let running jobs end within ``graceful_timeout``,
        abort what is left, report (at once after an immediate stop)."""
        state = self.state
        now = time.time()
        for run in state.running.values():
            state.log(
                logging.INFO,
                "ending_job",
                f"Waiting for job to finish: worker: {run.job.call_string} "
                f"(started {now - run.context.start_timestamp:.3f} s ago)",
                run,
            )
        await self._wait_for_jobs(graceful_timeout)
        if state.running and not state.stop_now.is_set():
            state.log(
                logging.INFO,
                "stop_worker",
                f"{len(state.running)} jobs still running after graceful timeout. Aborting them",
            )
            for run in list(state.running.values()):
                self.abort(run, AbortReason.SHUTDOWN)
            await self._wait_for_jobs(None)
        if state.stop_now.is_set():
            await self.abort_at_once(reporter)
        else:
            await reporter.drain()

    async def _wait_for_jobs(self, timeout: float | None) -> None:
        """Until no job runs, ``timeout`` passes or an immediate stop."""
        state = self.state
        await state.wait_until(lambda: not state.running or state.stop_now.is_set(), timeout)

    async def abort_at_once(self, reporter: Reporter) -> None:
        """The immediate stop's: abort every run, give async ones a moment to
        end, send what outcomes are known."""
        state = self.state
        runs = list(state.running.values())
        for run in runs:
            if not run.flag.is_set() or run.is_async:
                self.abort(run, AbortReason.SHUTDOWN)
        cancelled = [run.job_id for run in runs if run.is_async]
        if cancelled:
            await state.wait_until(
                lambda: not any(job_id in state.running for job_id in cancelled),
                IMMEDIATE_STOP_REPORT_TIMEOUT,
            )
        if not await reporter.drain(IMMEDIATE_STOP_REPORT_TIMEOUT):
            state.log(
                logging.WARNING,
                "outcomes_not_reported",
                f"{reporter.pending} job outcome(s) could not be reported",
            )
        for run in state.running.values():
            state.log(
                logging.WARNING,
                "job_left_running",
                f"Job {run.job.call_string} still running at exit: back to the queue",
                run,
            )
