"""Reporting outcomes: slots drop finished runs here, and one loop sends
everything waiting in one ``finish_jobs_async`` call (idle: one outcome at
once; under load, what arrived during a round trip goes in the next call).

A batch that cannot be sent is kept, never dropped, and sent again after a
growing delay (or at once when another call finds the database back), in
halves: a batch too big for a low statement_timeout gets through in smaller
ones. While reports fail, the worker fetches nothing (Reporter.failing). An
outcome refused as malformed is sent alone, then simplified; outcomes
refused for a reason only a person can cure (SQLSTATE class 42, 28, 3F) are
let go after REFUSALS_KEPT tries: their jobs go back to the queue when the
worker unregisters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procrastinate._db import wire
from procrastinate.exceptions import InvalidJobDefinition, InvalidJobStatus, InvalidOutcome
from procrastinate.worker.log import job_reported
from procrastinate.worker.state import wait_event

if TYPE_CHECKING:
    from procrastinate import manager
    from procrastinate.worker.executor import JobRun
    from procrastinate.worker.state import WorkerState

logger = logging.getLogger(__name__)

RETRY_DELAY = 0.5  # seconds before sending a failed batch again, doubled up to:
MAX_RETRY_DELAY = 10.0
#: SQLSTATE of a statement cancelled (statement_timeout): the batch was too
#: big for the limit, the database is there.
QUERY_CANCELED = "57014"
#: Times an outcome is sent when the database refuses the worker itself
#: (is_configuration_error) before it is let go.
REFUSALS_KEPT = 3

_DATA_ERRORS = (InvalidOutcome, InvalidJobStatus, InvalidJobDefinition)
#: SQLSTATE classes that sending again does not cure until someone acts:
#: 42 (a missing right, function or table), 28 (authorization), 3F (schema).
_CONFIGURATION_ERROR_CLASSES = ("42", "28", "3F")


def _sqlstate(error: BaseException) -> str:
    return getattr(error, "sqlstate", None) or ""


def is_data_error(error: BaseException) -> bool:
    """Whether the database refused the outcomes themselves (sending them
    again would fail again), rather than failing to receive them."""
    return isinstance(error, _DATA_ERRORS) or _sqlstate(error).startswith("22")


def is_configuration_error(error: BaseException) -> bool:
    """Whether the database refuses the worker itself (its role's rights, a
    schema not migrated): outcomes stay kept, but a person must act."""
    return _sqlstate(error)[:2] in _CONFIGURATION_ERROR_CLASSES


class Reporter:
    def __init__(
        self,
        state: WorkerState,
        job_manager: manager.JobManager,
        renewed: Callable[[float], None],
    ):
        self.state = state
        self.job_manager = job_manager
        #: Told the send time of each report that got through: a sign of
        #: life for the lease (worker.health).
        self.renewed = renewed
        self._pending: list[JobRun] = []
        self._sending: list[JobRun] = []
        self._ready = asyncio.Event()
        # Cuts a retry delay short: the database is back (worker.health).
        self._retry = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[Any] | None = None
        # At most this many outcomes per call (None: all waiting); halved
        # after a failed call, lifted once the outcomes waiting are sent.
        self._batch_limit: int | None = None
        self._failing = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def failing(self) -> bool:
        """Whether the last report failed and outcomes wait to be sent."""
        return self._failing and bool(self._pending or self._sending)

    @property
    def idle(self) -> bool:
        """Whether everything added was sent."""
        return self._idle.is_set()

    def job_ids(self) -> list[int]:
        """The jobs whose outcome waits to be recorded."""
        return [run.job_id for run in (*self._sending, *self._pending)]

    def add(self, run: JobRun) -> None:
        if run.disowned:
            self.state.log(
                logging.WARNING,
                "outcome_dropped",
                f"Job {run.job.call_string} ended, but its claim was lost: "
                "its outcome is not reported",
                run,
            )
            return
        self._pending.append(run)
        self._idle.clear()
        self._ready.set()

    def retry_now(self) -> None:
        """Another call found the database back: send what waits now, not
        after the rest of the retry delay (the worker fetches nothing until
        the outcomes are in)."""
        self._retry.set()

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until everything added was sent (True); False after
        ``timeout`` or if the reporter stopped."""
        if self._idle.is_set():
            return True
        idle = asyncio.ensure_future(self._idle.wait())
        waited: set[asyncio.Future[Any]] = {idle}
        if self._task is not None:
            waited.add(self._task)
        try:
            await asyncio.wait(waited, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            idle.cancel()
        return self._idle.is_set()

    async def run(self) -> None:
        """Send outcomes as they come, until cancelled (in a task of its own)."""
        self._task = asyncio.current_task()
        delay = RETRY_DELAY
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._pending:
                limit = self._batch_limit or len(self._pending)
                batch, self._pending = self._pending[:limit], self._pending[limit:]
                self._sending = batch
                try:
                    unsent = await self._send(batch)
                finally:
                    self._sending = []
                if not unsent:
                    self._failing = False
                    if not self._pending:
                        self._batch_limit = None  # caught up: back to one call for all
                    delay = RETRY_DELAY
                    continue
                self._failing = True
                if self.state.metrics is not None:
                    self.state.metrics.reports_sent_again(len(unsent))
                self._pending[:0] = unsent
                if len(unsent) > 1:
                    self._batch_limit = len(unsent) // 2
                self._retry.clear()
                await wait_event(self._retry, delay)
                delay = min(delay * 2, MAX_RETRY_DELAY)
            self._idle.set()

    async def _finish(self, batch: list[JobRun]) -> list[dict[str, Any]]:
        state = self.state
        sent_at = time.monotonic()
        results = await state.db_call(
            self.job_manager.finish_jobs_async(
                state.worker_id,
                [run.outcome for run in batch],
                state.options.delete_jobs.value,
            )
        )
        self.renewed(sent_at)
        return results

    async def _send(self, batch: list[JobRun]) -> list[JobRun]:
        """Send the batch; returns the runs to send again later."""
        try:
            results = await self._finish(batch)
        except Exception as exc:
            if is_configuration_error(exc):
                return self._refused(batch, exc)
            if not is_data_error(exc):
                self._log_unsent(batch, exc)
                return batch
            unsent = await self._send_separately(batch, exc)
        else:
            self.state.database_works()
            for run, result in zip(batch, results, strict=True):
                job_reported(self.state, run, result)
            unsent = []
        # Jobs may have become available (a lock freed, a retry due now).
        self.state.wake.set()
        return unsent

    def _refused(self, batch: list[JobRun], error: BaseException) -> list[JobRun]:
        """The database refuses the worker's reports for a reason that only
        a person can cure (a right, a migration): each outcome is sent
        REFUSALS_KEPT times, a person may act meanwhile, then let go.
        Returns the runs to send again."""
        for run in batch:
            run.report_refusals += 1
        kept = [run for run in batch if run.report_refusals < REFUSALS_KEPT]
        dropped = [run.job_id for run in batch if run.report_refusals >= REFUSALS_KEPT]
        self.state.kept.update(dropped)
        logger.error(
            f"The database refuses this worker's reports: {error} "
            f"(SQLSTATE {getattr(error, 'sqlstate', '?')}). Check the rights of its "
            "role (docs/security.md) and that the schema is migrated. "
            + (f"{len(kept)} job outcome(s) are kept and sent again. " if kept else "")
            + (
                f"The outcomes of job(s) {sorted(dropped)} are let go after "
                f"{REFUSALS_KEPT} refusals: those jobs stay with this worker and go "
                "back to the queue when it unregisters (or is declared dead)"
                if dropped else ""
            ),
            extra={"action": "report_outcomes_refused", "exception": repr(error)},
        )
        self.state.database_failed("report job outcomes", error, log=False)
        return kept

    def _log_unsent(self, batch: list[JobRun], error: BaseException) -> None:
        logger.warning(
            f"Could not report {len(batch)} job outcome(s), will try again: {error!r}",
            extra={"action": "report_outcomes_error", "exception": repr(error)},
        )
        # Part of the worker's database outage (its end is logged once); a
        # statement cancelled by its timeout is not one.
        if _sqlstate(error) != QUERY_CANCELED:
            self.state.database_failed("report job outcomes", error, log=False)

    async def _send_separately(
        self, batch: list[JobRun], error: BaseException
    ) -> list[JobRun]:
        """One by one, after the database refused a batch as malformed."""
        for index, run in enumerate(batch):
            attempts = ["simplified"] if len(batch) == 1 else ["as is", "simplified"]
            for attempt in attempts:
                if attempt == "simplified":
                    run.outcome = wire.simplified_outcome(run.outcome)
                try:
                    (result,) = await self._finish([run])
                except Exception as exc:
                    if not is_data_error(exc):
                        self._log_unsent(batch[index:], exc)
                        return batch[index:]
                    error = exc
                    continue
                job_reported(self.state, run, result)
                break
            else:
                self.state.kept.add(run.job_id)
                logger.error(
                    f"The database refused the outcome of job {run.job.call_string}: "
                    f"{error}. The job stays in doing until this worker stops.",
                    extra={"action": "outcome_refused", "outcome": run.outcome},
                )
        return []
