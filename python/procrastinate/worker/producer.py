"""The producer: turns free slots into fetch calls, and claimed jobs into
offers to the slots. It wakes on a notification (worker.listener), when
outcomes were reported or a job ended after a full fetch, when the database
is back, or every ``fetch_job_polling_interval``; which jobs a fetch gets is
decided in SQL.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING

from procrastinate.worker import timeouts
from procrastinate.worker.release import release_buffered
from procrastinate.worker.state import wait_event

if TYPE_CHECKING:
    from procrastinate import jobs, manager
    from procrastinate.worker.health import Health
    from procrastinate.worker.reconcile import Reconciler
    from procrastinate.worker.reporter import Reporter
    from procrastinate.worker.slots import Slots
    from procrastinate.worker.state import WorkerState


class Producer:
    def __init__(
        self,
        state: WorkerState,
        job_manager: manager.JobManager,
        health: Health,
        reporter: Reporter,
        slots: Slots,
        reconciler: Reconciler,
    ):
        self.state = state
        self.job_manager = job_manager
        self.health = health
        self.reporter = reporter
        self.slots = slots
        self.reconciler = reconciler
        # A fetch whose answer was lost may have been committed: the next
        # one sends the same claim token and resumes it (the database hands
        # back what it claimed).
        self._claim_token = uuid.uuid4()
        self._fetch_uncertain = False

    async def run(self) -> None:
        """Fetch until the worker stops (or, with wait=False, until no job
        is left)."""
        state, options = self.state, self.state.options
        while not state.stopping.is_set():
            state.wake.clear()
            # Claimed jobs not yet running are on their way to free slots.
            free = options.concurrency - len(state.running) - len(state.buffer)
            size = state.buffer.fetch_size(free)
            if size > 0 and self._may_fetch():
                # Before the fetch: an outcome committed during it is unseen,
                # and so is the outcome of a job still running at its start.
                settled = self.reporter.idle and not state.running
                # Between two fetches, not while the answer of one is lost:
                # its jobs are the worker's, but not known yet.
                if self.reconciler.due and not self._fetch_uncertain:
                    await self.reconciler.run()
                fetched = await self._fetch(size, slots=free)
                if fetched is None:
                    # Until the next poll, or until a call or the listener
                    # finds the database back (they wake us).
                    await self._sleep()
                    continue
                fetched = await self._set_aside_running(fetched)
                state.buffer.add(fetched)
                if state.stopping.is_set():
                    break  # the coordinator's shutdown releases them
                self.slots.offer()
                state.last_fetch_full = bool(fetched) and len(fetched) == size
                if not fetched and not options.wait and not state.running and not state.buffer:
                    # Retries due now become visible once outcomes are in:
                    # look again once they are (not before each fetch: the
                    # fetch would wait for the report's round trip).
                    if not settled and await self.reporter.drain():
                        continue
                    state.log(
                        logging.INFO,
                        "stop_worker",
                        "No job found. Stopping worker because wait=False",
                    )
                    break
                if state.last_fetch_full:
                    continue
            await self._sleep()

    async def _fetch(self, size: int, slots: int) -> list[jobs.Job] | None:
        """Claim up to ``size`` jobs, of which ``slots`` start at once (the
        rest fill the prefetch buffer: no job under a concurrency limit goes
        there); None if the call failed."""
        state = self.state
        sent_at = time.monotonic()
        try:
            fetched = await state.db_call(
                self.job_manager.fetch_jobs_async(
                    state.worker_id,
                    state.options.queues,
                    size,
                    claim_token=self._claim_token,
                    resume=self._fetch_uncertain,
                    slots=slots,
                )
            )
        except Exception as exc:
            self._fetch_uncertain = True
            state.database_failed("fetch jobs", exc)
            return None
        self.health.renewed(sent_at)
        state.database_works()
        timeouts.note_deadlines(state.deadlines, fetched, sent_at)
        if self._fetch_uncertain and fetched:
            state.log(
                logging.WARNING,
                "resume_lost_fetch",
                f"Resumed a fetch whose answer was lost: {len(fetched)} job(s) "
                "claimed then are run now",
                job_count=len(fetched),
            )
        self._fetch_uncertain = False
        self._claim_token = uuid.uuid4()
        return fetched

    async def _set_aside_running(self, fetched: list[jobs.Job]) -> list[jobs.Job]:
        """A job claimed again while a run of it goes on here, under a claim
        the database lost (worker.reconcile): given back until that run
        ends, as one job never runs twice at once."""
        running = [job for job in fetched if job.id in self.state.running]
        if not running:
            return fetched
        why = "an earlier run of it, whose claim was lost, goes on"
        await release_buffered(self.state, self.job_manager, running, why)
        return [job for job in fetched if job.id not in self.state.running]

    async def _sleep(self) -> None:
        await wait_event(self.state.wake, self.state.options.fetch_job_polling_interval)

    def _may_fetch(self) -> bool:
        """Not while the lease is about to run out (worker.health), nor while
        outcomes cannot be reported: a worker that cannot report would hold
        ever more jobs that it cannot end."""
        lease = self.health.lease
        return not (lease is not None and lease.fenced) and not self.reporter.failing
