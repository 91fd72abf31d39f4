"""Waiting for jobs to end: JobManager.wait_for_job and its relatives
(docs/results.md).

One Waiter per JobManager and event loop serves every wait of the process:
one LISTEN connection however many jobs are waited for, and one query
(procrastinate_job_results_v1) per round for all the jobs a round looks at.
The database announces the end of the jobs deferred with store_result
(``job_finished`` notifications); the other jobs, and any end missed while
the listening connection was down, are found by reading every job waited
for again, each POLL_INTERVAL seconds while some job is not announced or
nothing listens, else each SAFETY_POLL_INTERVAL seconds. A notification is
a hint: the job is read before anything is believed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from procrastinate import exceptions, jobs, utils

if TYPE_CHECKING:
    from procrastinate import manager

logger = logging.getLogger(__name__)

#: Seconds between two readings of every job waited for, while one of them
#: is not announced (deferred without store_result) or nothing listens.
POLL_INTERVAL = 1.0
#: The same when every job is announced and LISTEN is in place: a safety net.
SAFETY_POLL_INTERVAL = 10.0
#: Ids per query: thousands of waits make a few queries, not thousands.
IDS_PER_QUERY = 10_000
#: Seconds the listening connection stays after the last wait ended: the
#: next wait (a defer_and_wait per request, say) finds LISTEN in place.
LINGER = 5.0

ENDED = frozenset({"succeeded", "failed", "cancelled", "aborted"})


@dataclasses.dataclass(frozen=True)
class FinishedJob:
    """A job that ended as waited for: ``status`` succeeded (the others
    raise, see JobManager.wait_for_job), ``result`` what the task returned
    when the job stores its result (None otherwise: ``result_error`` says
    why, and ``value()`` raises ResultNotStored)."""

    id: int
    status: jobs.Status
    result: Any
    result_error: str | None
    store_result: bool
    attempts: int
    finished_at: datetime.datetime | None

    def value(self) -> Any:
        """What the task returned; ResultNotStored when it is not kept."""
        if not self.store_result:
            raise exceptions.ResultNotStored(
                f"Job {self.id} was not deferred with store_result: its result is not kept"
            )
        if self.result_error is not None:
            raise exceptions.ResultNotStored(f"Job {self.id}: {self.result_error}")
        return self.result


def ending(row: dict[str, Any]) -> FinishedJob | exceptions.ProcrastinateException:
    """What a wait for the ended job of ``row`` (JOB_RESULTS) gives: the job,
    or the exception to raise."""
    job_id, status = row["job_id"], row["status"]
    if status == "failed":
        return exceptions.JobFailed(
            job_id, row["error_message"], row["error_types"], row["error_traceback"]
        )
    if status in ("cancelled", "aborted"):
        return exceptions.JobCancelled(job_id, status)
    return FinishedJob(
        id=job_id,
        status=jobs.Status(status),
        result=row["result"],
        result_error=row["result_error"],
        store_result=row["store_result"],
        attempts=row["attempts"],
        finished_at=row["finished_at"],
    )


class Waiter:
    """The waits of one JobManager on one event loop (see the module)."""

    def __init__(self, job_manager: manager.JobManager):
        self.job_manager = job_manager
        self.loop = asyncio.get_running_loop()
        self._futures: dict[int, set[asyncio.Future[FinishedJob]]] = {}
        # read at the next round: these ids, or every id when _all_due
        self._due: set[int] = set()
        self._all_due = False
        # jobs whose end is not announced (deferred without store_result)
        self._unannounced: set[int] = set()
        self._listening = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def wait(self, job_id: int, timeout: float | None) -> FinishedJob:
        future: asyncio.Future[FinishedJob] = self.loop.create_future()
        self._futures.setdefault(job_id, set()).add(future)
        self._due.add(job_id)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._run())
        try:
            return await utils.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise exceptions.WaitTimeout(
                f"Job {job_id} did not end within {timeout:g} s (it goes on)"
            ) from None
        finally:
            waiting = self._futures.get(job_id)
            if waiting is not None:
                waiting.discard(future)
                if not waiting:
                    del self._futures[job_id]
                    self._unannounced.discard(job_id)
            if not self._futures:
                self._wake.set()  # the rounds linger, then stop listening

    async def _run(self) -> None:
        self._listening = False  # until on_listening says LISTEN is in place
        listener = self.loop.create_task(self._listen())
        try:
            await self._rounds()
        except Exception as exc:  # a bug: the waits fail with it rather than hang
            for futures in self._futures.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            raise
        finally:
            listener.cancel()

    async def _rounds(self) -> None:
        """Read the jobs due, then wait for a notification or the poll
        interval; once nothing is waited for, LINGER seconds more."""
        while True:
            self._wake.clear()
            if not self._futures:
                try:
                    await utils.wait_for(self._wake.wait(), LINGER)
                except asyncio.TimeoutError:
                    if not self._futures:
                        return
                continue
            ids = (
                list(self._futures)
                if self._all_due
                else [job_id for job_id in self._due if job_id in self._futures]
            )
            self._due.clear()
            self._all_due = False
            if ids:
                await self._read(ids)
            polled = self._listening and not (self._unannounced & self._futures.keys())
            interval = SAFETY_POLL_INTERVAL if polled else POLL_INTERVAL
            try:
                await utils.wait_for(self._wake.wait(), interval)
            except asyncio.TimeoutError:
                self._all_due = True

    async def _read(self, ids: list[int]) -> None:
        """Read the jobs; settle the waits of those that ended or are gone.
        A failed read is logged, and every job is read again after the
        poll interval."""
        try:
            rows = []
            for start in range(0, len(ids), IDS_PER_QUERY):
                rows += await self.job_manager.job_results_async(ids[start : start + IDS_PER_QUERY])
        except Exception as exc:  # noqa: BLE001 - a server restarting, a pool timing out
            logger.warning(
                f"Could not read the jobs waited for, will try again: {exc!r}",
                extra={"action": "wait_for_jobs_error", "exception": repr(exc)},
            )
            self._all_due = True
            return
        seen = set()
        for row in rows:
            job_id = row["job_id"]
            seen.add(job_id)
            if not row["store_result"]:
                self._unannounced.add(job_id)
            if row["status"] in ENDED:
                self._settle(job_id, ending(row))
        for job_id in set(ids) - seen:
            self._settle(job_id, exceptions.JobNotFound(f"Job {job_id} does not exist"))

    def _settle(self, job_id: int, end: FinishedJob | exceptions.ProcrastinateException) -> None:
        for future in self._futures.get(job_id, ()):
            if future.done():
                continue
            if isinstance(end, FinishedJob):
                future.set_result(end)
            else:
                future.set_exception(end)

    async def _listen(self) -> None:
        try:
            await self.job_manager.listen_for_jobs_async(
                self._on_notification, on_listening=self._on_listening
            )
        except Exception as exc:  # noqa: BLE001 - polling goes on
            self._listening = False
            logger.info(
                f"Cannot listen for the end of jobs ({exc!r}): polling every {POLL_INTERVAL:g} s",
                extra={"action": "wait_for_jobs_polling", "exception": repr(exc)},
            )

    def _on_listening(self) -> None:
        # Ends announced before LISTEN was in place are lost: read every job.
        self._listening = True
        self._all_due = True
        self._wake.set()

    def _on_notification(self, notification: dict[str, Any]) -> None:
        if notification.get("type") != "job_finished":
            return
        job_ids = notification.get("job_ids")
        if not isinstance(job_ids, list):  # too many to name: read them all
            self._all_due = True
        else:
            self._due.update(
                job_id for job_id in job_ids if isinstance(job_id, int) and job_id in self._futures
            )
        if self._all_due or self._due:
            self._wake.set()


_waiters: weakref.WeakKeyDictionary[manager.JobManager, Waiter] = weakref.WeakKeyDictionary()


def waiter(job_manager: manager.JobManager) -> Waiter:
    """The Waiter of ``job_manager`` on the running loop."""
    current = _waiters.get(job_manager)
    if current is None or current.loop is not asyncio.get_running_loop():
        current = _waiters[job_manager] = Waiter(job_manager)
    return current


async def wait_many(
    job_manager: manager.JobManager, job_ids: Iterable[int], timeout: float | None
) -> list[FinishedJob | BaseException]:
    """Every job's end, in the order of ``job_ids``: a FinishedJob, or the
    exception its wait raised."""
    shared = waiter(job_manager)
    return await asyncio.gather(
        *(shared.wait(job_id, timeout) for job_id in job_ids), return_exceptions=True
    )
