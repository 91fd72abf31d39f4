"""The producer: turns free slots into fetch calls, and claimed jobs into
offers to the slots. It wakes on a notification (worker.listener), when
outcomes were reported or a job ended after a full fetch, when the database
is back, or every ``fetch_job_polling_interval``; which jobs a fetch gets is
decided in SQL. After a fetch that came back short, when rate limits exist,
it sleeps no longer than until an empty bucket of its queues has a token
again (procrastinate_limit_wait_v1; docs/flow-control.md).
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


#: Seconds a worker that found no rate limit in the database does not ask again.
NO_RATE_LIMITS_RECHECK = 60.0
#: The shortest sleep for a rate limit's token (seconds).
RATE_LIMIT_MIN_SLEEP = 0.005


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
        # Until then (monotonic), the database had no rate limit: not asked
        # again after each short fetch.
        self._no_rate_limits_until = 0.0

    async def run(self) -> None:
        """Fetch until the worker stops (or, with wait=False, until no job
        is left)."""
        state, options = self.state, self.state.options
        # Whether the database has rate limits, learnt before the first fetch
        # (not between a fetch and the run of what it claimed).
        await self._rate_limit_wait()
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
                # A short fetch: a rate limit may hold jobs back until its
                # bucket refills (None: no such bucket, or no rate limit).
                rate_wait = None if state.last_fetch_full else await self._rate_limit_wait()
                if (
                    not fetched and not options.wait and not state.running and not state.buffer
                    and rate_wait is None
                ):
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
                await self._sleep(rate_wait)
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

    async def _sleep(self, at_most: float | None = None) -> None:
        """Until woken, or for the poll interval, or for ``at_most``
        seconds when shorter (a rate limit's next token)."""
        timeout = self.state.options.fetch_job_polling_interval
        if at_most is not None:
            timeout = min(timeout, at_most)
        await wait_event(self.state.wake, timeout)

    async def _rate_limit_wait(self) -> float | None:
        """The seconds until a rate limit that holds jobs of our queues
        back has a token again (at least 5 ms), or None. Asks the
        database only while rate limits exist: when it has none, not again
        for a minute (a rate set meanwhile from psql is then waited for by
        polling only, until the next question)."""
        now = time.monotonic()
        if now < self._no_rate_limits_until:
            return None
        try:
            has_rate_limits, seconds = await self.job_manager.limit_wait_async(
                self.state.options.queues
            )
        except Exception as exc:  # noqa: BLE001 - the fetch reports a lost database
            self.state.log(
                logging.DEBUG, "rate_limit_wait_failed", f"Could not read the rate limits: {exc}"
            )
            return None
        if not has_rate_limits:
            self._no_rate_limits_until = now + NO_RATE_LIMITS_RECHECK
            return None
        # 0: a bucket refilled since the claim; not sooner than 5 ms, so that
        # a claim held back by something else than the rate never spins
        return None if seconds is None else max(seconds, RATE_LIMIT_MIN_SLEEP)

    def _may_fetch(self) -> bool:
        """Not while the lease is about to run out (worker.health), nor while
        outcomes cannot be reported: a worker that cannot report would hold
        ever more jobs that it cannot end."""
        lease = self.health.lease
        return not (lease is not None and lease.fenced) and not self.reporter.failing
