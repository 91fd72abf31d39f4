"""The worker: fetch jobs, run them, report how they ended.

One loop (the producer) turns free slots into one fetch call for that many
jobs, plus a few claimed ahead while jobs are short (worker_prefetch), and
starts an executor per job (worker_executor). Executors hand their
outcome to the reporter (worker_reporter), which sends outcomes in batches.
The producer wakes on a ``job_available`` notification for our queues, when
outcomes were reported (a lock or a retry may have freed a job), when a slot
frees after a full fetch, or every ``fetch_job_polling_interval`` seconds.

Side loops: heartbeat (plus the stalled-job rescue the SQL core asks every
live worker to run), abort checks (on ``abort_requested`` notifications or
every ``abort_job_polling_interval``; the database confirms), the listener
and the periodic deferrer. What to retry, when, which job a lock lets
through: all decided in SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from procrastinate import (
    exceptions,
    job_context,
    jobs,
    middleware,
    migrations,
    signals,
    utils,
)
from procrastinate import periodic_deferrer as periodic_deferrer_module
from procrastinate.worker_executor import JobRun, execute
from procrastinate.worker_prefetch import PrefetchBuffer
from procrastinate.worker_reporter import Reporter

if TYPE_CHECKING:
    from procrastinate import app as app_module

logger = logging.getLogger(__name__)

WORKER_NAME = "worker"
WORKER_CONCURRENCY = 1
#: Jobs claimed ahead of free slots, per slot, while jobs are short
#: (worker_prefetch): the default of the ``prefetch`` option is this times
#: the concurrency, at most MAX_DEFAULT_PREFETCH.
PREFETCH_PER_SLOT = 10
MAX_DEFAULT_PREFETCH = 100
FETCH_JOB_POLLING_INTERVAL = 5.0
ABORT_JOB_POLLING_INTERVAL = 5.0
#: On an immediate stop, how long outcomes already known may take to be sent.
IMMEDIATE_STOP_REPORT_TIMEOUT = 3.0
#: Deadline of every database call of the worker (seconds): a call hung on
#: a half-open connection fails instead of stalling the worker.
DATABASE_TIMEOUT = 30.0

AbortReason = job_context.AbortReason


class Worker:
    """Runs the jobs of ``app`` (see App.run_worker_async for the options)."""

    def __init__(
        self,
        app: app_module.App,
        queues: Iterable[str] | None = None,
        name: str | None = WORKER_NAME,
        concurrency: int = WORKER_CONCURRENCY,
        wait: bool = True,
        fetch_job_polling_interval: float = FETCH_JOB_POLLING_INTERVAL,
        abort_job_polling_interval: float = ABORT_JOB_POLLING_INTERVAL,
        shutdown_graceful_timeout: float | None = None,
        listen_notify: bool = True,
        delete_jobs: str | jobs.DeleteJobCondition | None = None,
        additional_context: dict[str, Any] | None = None,
        install_signal_handlers: bool = True,
        update_heartbeat_interval: float = 10.0,
        stalled_worker_timeout: float = 30.0,
        task_middleware: list[middleware.TaskMiddleware] | None = None,
        worker_middleware: list[middleware.WorkerMiddleware] | None = None,
        prefetch: int | None = None,
    ):
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if prefetch is None:
            prefetch = min(concurrency * PREFETCH_PER_SLOT, MAX_DEFAULT_PREFETCH)
        if prefetch < 0:
            raise ValueError(f"prefetch must be zero or more jobs, got {prefetch}")
        self.prefetch = prefetch
        self.app = app
        self.queues = list(queues) if queues else None
        self.worker_name = name
        self.concurrency = concurrency
        self.wait = wait
        self.fetch_job_polling_interval = fetch_job_polling_interval
        self.abort_job_polling_interval = abort_job_polling_interval
        self.shutdown_graceful_timeout = shutdown_graceful_timeout
        self.listen_notify = listen_notify
        self.delete_jobs = jobs.DeleteJobCondition(
            delete_jobs or jobs.DeleteJobCondition.NEVER
        )
        self.additional_context = additional_context
        self.install_signal_handlers = install_signal_handlers
        self.update_heartbeat_interval = update_heartbeat_interval
        self.stalled_worker_timeout = stalled_worker_timeout
        self.task_middleware = list(task_middleware or [])
        self.worker_middleware = list(worker_middleware or [])
        self._check_middleware()
        self.logger = logger.getChild(name) if name else logger
        self.worker_id: int | None = None
        self.database_timeout = DATABASE_TIMEOUT
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reset()

    def _check_middleware(self) -> None:
        for mw in [*self.task_middleware, *self.worker_middleware]:
            if not callable(mw):
                raise TypeError(f"Middleware {mw!r} is not callable.")
        for mw in self.worker_middleware:
            if not middleware.is_async_middleware(mw):
                raise exceptions.MiddlewareKindMismatch(
                    f"Worker middleware {getattr(mw, '__name__', repr(mw))!r} must be "
                    "async (async def): worker middleware runs on the event loop."
                )

    def _reset(self) -> None:
        self._running: dict[int, JobRun] = {}
        self._buffer = PrefetchBuffer(self.prefetch)
        self._wake = asyncio.Event()  # the producer should look for jobs
        self._check_aborts = asyncio.Event()
        self._job_ended = asyncio.Event()
        self._stopping = asyncio.Event()
        self._stop_now = asyncio.Event()
        self._last_fetch_full = False
        # Database outage tracking: when calls started failing (None: they
        # work) and since when the heartbeat has worked without a break.
        self._db_down_since: float | None = None
        self._fetch_uncertain = False
        self._heartbeat_ok_since: float | None = None
        self.reporter = Reporter(self)

    # --- stopping ----------------------------------------------------------------

    def _call_in_loop(self, callback: Any) -> None:
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is not None and running is not loop:
            loop.call_soon_threadsafe(callback)  # from another thread
        else:
            callback()

    def stop(self) -> None:
        """Stop gracefully: fetch no more, let running jobs end (within
        shutdown_graceful_timeout), report, unregister. Thread-safe."""
        self._call_in_loop(self._stop)

    def stop_now(self) -> None:
        """Stop at once: abort every job, report what is known, unregister.
        Jobs still running in threads go back to the queue. Thread-safe."""
        self._call_in_loop(self._immediate_stop)

    def _stop(self) -> None:
        if self._stopping.is_set():
            return
        self.logger.info("Stop requested", extra=self.log_extra("stopping_worker"))
        self._stopping.set()
        self._wake.set()

    def _immediate_stop(self) -> None:
        if self._stop_now.is_set():
            return
        self.logger.info(
            "Immediate stop requested: aborting running jobs",
            extra=self.log_extra("stopping_worker_now"),
        )
        self._stop()
        self._stop_now.set()
        self._job_ended.set()

    # --- running -----------------------------------------------------------------

    async def run(self) -> None:
        """Run until stopped (or, with wait=False, until no job is left)."""
        self._loop = asyncio.get_running_loop()
        self._reset()
        core = asyncio.create_task(self._run(), name="procrastinate worker")
        try:
            # Cancelling run() stops the worker gracefully (a second cancel: at once).
            await asyncio.shield(core)
        except asyncio.CancelledError:
            self._stop()
            while not core.done():
                try:
                    await asyncio.shield(core)
                except asyncio.CancelledError:
                    self._immediate_stop()
            raise
        finally:
            self._loop = None

    async def _run(self) -> None:
        manager = self.app.job_manager
        # Refuse to run on a database lacking this code's pre migrations.
        await migrations.check_schema_version_connector(self.app.connector)
        await self._rescue_stalled_jobs()
        self.worker_id = await self.db_call(
            manager.register_worker_async(self.worker_name, self.queues, self.concurrency)
        )
        self._heartbeat_ok_since = time.monotonic()
        self.logger.debug(
            f"Registered worker {self.worker_id} in the database",
            extra=self.log_extra("register_worker"),
        )
        side_tasks = self._start_side_tasks()
        deferrer = asyncio.create_task(self._run_periodic_deferrer(), name="deferrer")
        handlers = (
            signals.on_stop(self._stop, self._immediate_stop)
            if self.install_signal_handlers
            else contextlib.nullcontext()
        )
        with handlers:
            self.logger.info(
                f"Starting worker on {utils.queues_display(self.queues)}",
                extra=self.log_extra("start_worker"),
            )
            try:
                await self._produce()
            finally:
                await utils.cancel_and_capture_errors([deferrer])
                await self._shutdown(side_tasks)

    def _start_side_tasks(self) -> list[asyncio.Task[Any]]:
        tasks = [
            self.reporter.start(),
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self._abort_loop(), name="abort_checks"),
        ]
        if self.listen_notify:
            tasks.append(asyncio.create_task(self._listen(), name="listener"))
        for task in tasks:
            task.add_done_callback(self._side_task_done)
        return tasks

    def _side_task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.logger.error(
                f"Side task {task.get_name()} failed: {task.exception()!r}, stopping worker",
                exc_info=task.exception(),
                extra=self.log_extra("side_task_failed", task_name=task.get_name()),
            )
            self._stop()

    async def _produce(self) -> None:
        manager = self.app.job_manager
        while not self._stopping.is_set():
            self._wake.clear()
            self._start_buffered()
            size = self._buffer.fetch_size(self.concurrency - len(self._running))
            if size > 0:
                # Before the fetch: an outcome committed during it is unseen,
                # and so is the outcome of a job still running at its start.
                settled = self.reporter.idle and not self._running
                try:
                    if self._fetch_uncertain:
                        await self._adopt_unreceived_jobs()
                    fetched = await self.db_call(
                        manager.fetch_jobs_async(self.worker_id, self.queues, size)
                    )
                except Exception as exc:
                    # The fetch may have been committed with its answer lost.
                    self._fetch_uncertain = True
                    self.database_failed("fetch jobs", exc)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(
                            self._stopping.wait(), self.fetch_job_polling_interval
                        )
                    continue
                self.database_works()
                self._buffer.add(fetched)
                if self._stopping.is_set():
                    break  # _shutdown releases them
                self._start_buffered()
                self._last_fetch_full = bool(fetched) and len(fetched) == size
                if not fetched and not self.wait and not self._running and not self._buffer:
                    # Retries due now become visible once outcomes are in:
                    # look again once they are (not before each fetch: the
                    # fetch would wait for the report's round trip).
                    if not settled and await self.reporter.drain():
                        continue
                    self.logger.info(
                        "No job found. Stopping worker because wait=False",
                        extra=self.log_extra("stop_worker"),
                    )
                    break
                if self._last_fetch_full:
                    continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.fetch_job_polling_interval)

    def _start_buffered(self) -> None:
        """Fill the free slots with claimed jobs (not once stopping)."""
        buffer = self._buffer
        while buffer and len(self._running) < self.concurrency:
            if self._stopping.is_set():
                return
            self._start_job(buffer.pop())

    async def _adopt_unreceived_jobs(self) -> None:
        """After a failed fetch: the database may have given us jobs whose
        answer never arrived (connection lost after the commit). Nobody
        would run them (we heartbeat, so no rescue): run them now."""
        held = await self.db_call(
            self.app.job_manager.list_jobs_async(worker_id=self.worker_id, status="doing")
        )
        self._fetch_uncertain = False
        unreported = self.reporter.unreported_job_ids()
        for job in held:
            if (
                job.id not in self._running
                and job.id not in unreported
                and job.id not in self._buffer
            ):
                self.logger.warning(
                    f"Job {job.call_string} was fetched by this worker but the answer "
                    "was lost with the connection: running it now",
                    extra=self.log_extra("adopt_unreceived_job", job_id=job.id),
                )
                self._start_job(job)

    def _start_job(self, job: jobs.Job) -> None:
        assert job.id is not None
        flag = job_context.AbortFlag()
        context = job_context.JobContext(
            app=self.app,
            worker_name=self.worker_name,
            worker_queues=self.queues,
            job=job,
            start_timestamp=time.time(),
            additional_context=dict(self.additional_context or {}),
            abort_reason=flag.get,
        )
        run = JobRun(job=job, task=self.app.tasks.get(job.task_name), context=context, flag=flag)
        self._running[job.id] = run
        run.asyncio_task = asyncio.create_task(
            execute(self, run), name=f"process job {job.task_name}[{job.id}]"
        )
        run.asyncio_task.add_done_callback(lambda _: self._executor_done(run))

    def _executor_done(self, run: JobRun) -> None:
        if self._running.get(run.job.id) is run:  # type: ignore[arg-type]
            del self._running[run.job.id]  # type: ignore[arg-type]
        self._job_ended.set()
        if run.end_timestamp is not None:
            self._buffer.job_lasted(run.end_timestamp - run.context.start_timestamp)
        # The freed slot takes a claimed job now, not after a loop turn.
        self._start_buffered()
        if self._last_fetch_full or not self.wait:
            self._wake.set()

    def job_ended(self, run: JobRun) -> None:
        """Called by the executor with the run's outcome."""
        if self._stop_now.is_set() and self.worker_id is None:
            return  # unregistered already: the database released the job
        self.reporter.add(run)

    def outcomes_reported(self) -> None:
        """Called by the reporter after each report: jobs may have become
        available (a lock freed, a retry due now)."""
        self._wake.set()

    # --- database calls ------------------------------------------------------------

    async def db_call(self, awaitable: Any) -> Any:
        """Await a database call with the worker's deadline."""
        return await asyncio.wait_for(awaitable, self.database_timeout)

    def database_failed(self, what: str, error: BaseException, log: bool = True) -> None:
        """Log a failed database call; the first one of an outage says so
        (``log=False``: the caller logged it)."""
        if isinstance(error, asyncio.TimeoutError):
            error = TimeoutError(f"no answer within {self.database_timeout:g} s")
        if not log:
            if self._db_down_since is None:
                self._db_down_since = time.monotonic()
            return
        if self._db_down_since is None:
            self._db_down_since = time.monotonic()
            self.logger.error(
                f"Database unavailable: could not {what} ({error!r}); "
                "will retry; outcomes are kept until they can be reported",
                extra=self.log_extra("database_unavailable", exception=repr(error)),
            )
        else:
            self.logger.warning(
                f"Database still unavailable: could not {what} ({error!r})",
                extra=self.log_extra("database_still_unavailable", exception=repr(error)),
            )

    def database_works(self) -> None:
        """A database call succeeded: end the outage, if any, and say so."""
        if self._db_down_since is None:
            return
        lasted = time.monotonic() - self._db_down_since
        self._db_down_since = None
        self.logger.warning(
            f"Database available again after {lasted:.1f} s: service resumed",
            extra=self.log_extra("database_available", outage_seconds=lasted),
        )
        # What was missed meanwhile (notifications, aborts): look now.
        self._wake.set()
        self._check_aborts.set()

    # --- logging -------------------------------------------------------------------

    def log_extra(self, action: str, run: JobRun | None = None, **kwargs: Any) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "action": action,
            "worker": {
                "name": self.worker_name,
                "worker_id": self.worker_id,
                "job_id": run.job.id if run else None,
                "queues": list(self.queues or []),
            },
        }
        if run is not None:
            extra["job"] = run.job.log_context()
            extra.update(run.job_result().as_dict())
        return {**extra, **kwargs}

    def job_reported(self, run: JobRun, result: dict[str, Any]) -> None:
        """Log the end of a job, once the database said what became of it."""
        kind = run.outcome_kind
        status = result.get("status") if result.get("accepted") else None
        if not result.get("accepted"):
            self.logger.warning(
                f"Outcome of job {run.job.call_string} was not recorded "
                f"({result.get('reason')}): the job was taken back from this worker",
                extra=self.log_extra("outcome_not_recorded", run, reason=result.get("reason")),
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
                extra=self.log_extra(action, run, status=status),
            )
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug(
                f"Acknowledged job completion {run.job.call_string}",
                extra=self.log_extra("finish_task", run, status=status),
            )

    # --- side loops ------------------------------------------------------------------

    async def _rescue_stalled_jobs(self) -> None:
        rescued = await self.db_call(
            self.app.job_manager.rescue_stalled_jobs_async(self.stalled_worker_timeout)
        )
        for row in rescued:
            self.logger.warning(
                f"Took back job {row['job_id']} from a stalled worker: now {row['status']}",
                extra=self.log_extra("rescued_stalled_job", **row),
            )

    def _may_rescue(self) -> bool:
        """Rescue others only once our own heartbeat has worked without a
        break for stalled_worker_timeout: after an outage that hit every
        worker, the live ones get that long to beat again before anyone
        takes their jobs."""
        since = self._heartbeat_ok_since
        return since is not None and time.monotonic() - since >= self.stalled_worker_timeout

    async def _heartbeat_loop(self) -> None:
        """Beat every update_heartbeat_interval, until cancelled (after the
        drain at shutdown), then rescue the jobs of stalled workers."""
        manager = self.app.job_manager
        while True:
            await asyncio.sleep(self.update_heartbeat_interval)
            try:
                assert self.worker_id is not None
                alive = await self.db_call(manager.heartbeat_async(self.worker_id))
                if not alive:
                    await self._register_again()
                if self._heartbeat_ok_since is None:
                    self._heartbeat_ok_since = time.monotonic()
                self.database_works()
            except Exception as exc:
                self._heartbeat_ok_since = None
                self.database_failed("send a heartbeat", exc)
                continue
            if not self._may_rescue():
                continue
            try:
                await self._rescue_stalled_jobs()
            except Exception as exc:
                self.database_failed("rescue stalled jobs", exc)

    async def _register_again(self) -> None:
        """We were declared dead (silent past stalled_worker_timeout) and our
        jobs were taken back: register anew, and abort the runs we still
        hold, whose outcomes the database will refuse anyway."""
        old_id = self.worker_id
        self.worker_id = await self.db_call(
            self.app.job_manager.register_worker_async(
                self.worker_name, self.queues, self.concurrency
            )
        )
        self.logger.warning(
            f"Worker {old_id} was removed from the database as stalled; "
            f"registered again as {self.worker_id}; "
            f"{len(self._running)} job(s) it held were taken back and are aborted here",
            extra=self.log_extra("register_worker_again", old_worker_id=old_id),
        )
        for run in list(self._running.values()):
            if not run.flag.is_set():
                self._abort(run, AbortReason.SHUTDOWN)
        self._buffer.clear()  # taken back with the rest

    async def _abort_loop(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    self._check_aborts.wait(), self.abort_job_polling_interval
                )
            self._check_aborts.clear()
            if not self._running and not self._buffer:
                continue
            try:
                assert self.worker_id is not None
                job_ids = await self.db_call(
                    self.app.job_manager.jobs_to_abort_async(self.worker_id)
                )
            except Exception as exc:
                self.database_failed("check for jobs to abort", exc)
                continue
            for job_id in job_ids:
                run = self._running.get(job_id)
                if run is not None and not run.flag.is_set():
                    self._abort(run, AbortReason.USER_REQUEST)
            # Claimed ahead, never started: given back (they end cancelled).
            await self._release_buffered(self._buffer.remove(job_ids), "abort requested")

    def _abort(self, run: JobRun, reason: AbortReason) -> None:
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
            assert run.asyncio_task is not None
            run.asyncio_task.cancel()
        self.logger.debug(
            f"Received a request to abort {message}",
            extra=self.log_extra("abort_job", run, reason=reason.value),
        )

    async def _listen(self) -> None:
        try:
            await self.app.job_manager.listen_for_jobs_async(
                self._on_notification, on_listening=self._on_listening
            )
        except Exception as exc:
            self.logger.exception(
                f"Listening for notifications failed ({exc}); polling only from now on",
                extra=self.log_extra("listener_error"),
            )

    def _on_listening(self) -> None:
        # Notifications sent before LISTEN was in place are lost: look now.
        self._wake.set()
        self._check_aborts.set()

    def _on_notification(self, notification: dict[str, Any]) -> None:
        """A hint, never an order: anyone allowed to NOTIFY can send one (a
        forged payload of any shape at worst wakes a loop). Jobs are fetched,
        and aborts confirmed, in the database."""
        kind = notification.get("type")
        if kind == "job_available":
            queues = notification.get("queues")
            if (
                self.queues is None
                or not isinstance(queues, list)
                or set(map(str, queues)) & set(self.queues)
            ):
                self._wake.set()
        elif kind == "abort_requested":
            job_ids = notification.get("job_ids")
            if not isinstance(job_ids, list) or any(
                isinstance(job_id, int) and (job_id in self._running or job_id in self._buffer)
                for job_id in job_ids
            ):
                self._check_aborts.set()

    async def _run_periodic_deferrer(self) -> None:
        deferrer = periodic_deferrer_module.PeriodicDeferrer(
            registry=self.app.periodic_registry, **self.app.periodic_defaults
        )
        await deferrer.run()

    # --- shutdown -----------------------------------------------------------------------

    async def _wait_for_jobs(self, timeout: float | None) -> None:
        """Until no job runs, ``timeout`` passes or an immediate stop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._running and not self._stop_now.is_set():
            self._job_ended.clear()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._job_ended.wait(), remaining)

    async def _release_buffered(self, claimed: list[jobs.Job], why: str) -> None:
        """Give back claimed jobs that never started. If that fails, they stay
        ours: unregistering (or the stalled-worker rescue) puts them back."""
        if not claimed or self.worker_id is None:
            return
        timeout = (
            IMMEDIATE_STOP_REPORT_TIMEOUT if self._stop_now.is_set() else self.database_timeout
        )
        job_ids = [job.id for job in claimed if job.id is not None]
        try:
            released = await asyncio.wait_for(
                self.app.job_manager.release_jobs_async(self.worker_id, job_ids), timeout
            )
        except Exception as exc:
            self.logger.warning(
                f"Could not give back {len(job_ids)} job(s) claimed ahead ({why}): {exc!r}; "
                "they go back to the queue when this worker unregisters",
                extra=self.log_extra("release_jobs_error", exception=repr(exc)),
            )
            return
        self.logger.debug(
            f"Gave back {len(released)} job(s) claimed ahead and not started ({why})",
            extra=self.log_extra("release_jobs", job_ids=released, reason=why),
        )
        kept = sorted(set(job_ids) - set(released))
        if kept:
            # Their queueing lock is taken by a waiting job: they go back to
            # the queue as retries when this worker unregisters.
            self.logger.info(
                f"{len(kept)} job(s) claimed ahead stay with this worker until it "
                f"unregisters, their queueing lock being taken by a waiting job: {kept}",
                extra=self.log_extra("release_jobs_kept", job_ids=kept, reason=why),
            )

    async def _shutdown(self, side_tasks: list[asyncio.Task[Any]]) -> None:
        # Jobs claimed ahead go back first: other workers may run them now.
        await self._release_buffered(self._buffer.clear(), "worker stopping")
        now = time.time()
        for run in self._running.values():
            self.logger.info(
                f"Waiting for job to finish: worker: {run.job.call_string} "
                f"(started {now - run.context.start_timestamp:.3f} s ago)",
                extra=self.log_extra("ending_job", run),
            )
        await self._wait_for_jobs(self.shutdown_graceful_timeout)
        if self._running and not self._stop_now.is_set():
            self.logger.info(
                f"{len(self._running)} jobs still running after graceful timeout. "
                "Aborting them",
                extra=self.log_extra("stop_worker"),
            )
            for run in list(self._running.values()):
                self._abort(run, AbortReason.SHUTDOWN)
            await self._wait_for_jobs(None)
        if self._stop_now.is_set():
            await self._abort_at_once()
        else:
            await self.reporter.drain()
        for task in side_tasks:
            task.remove_done_callback(self._side_task_done)
        await utils.cancel_and_capture_errors(side_tasks)
        await self._unregister()
        self.logger.info(
            f"Stopped worker on {utils.queues_display(self.queues)}",
            extra=self.log_extra("stop_worker"),
        )

    async def _abort_at_once(self) -> None:
        runs = list(self._running.values())
        for run in runs:
            if not run.flag.is_set() or run.is_async:
                self._abort(run, AbortReason.SHUTDOWN)
        cancelled = [run.asyncio_task for run in runs if run.is_async and run.asyncio_task]
        if cancelled:
            await asyncio.wait(cancelled, timeout=IMMEDIATE_STOP_REPORT_TIMEOUT)
        if not await self.reporter.drain(IMMEDIATE_STOP_REPORT_TIMEOUT):
            self.logger.warning(
                f"{self.reporter.pending} job outcome(s) could not be reported",
                extra=self.log_extra("outcomes_not_reported"),
            )
        for run in self._running.values():
            self.logger.warning(
                f"Job {run.job.call_string} still running at exit: back to the queue",
                extra=self.log_extra("job_left_running", run),
            )

    async def _unregister(self) -> None:
        worker_id, self.worker_id = self.worker_id, None
        if worker_id is None:
            return
        try:
            released = await self.db_call(
                self.app.job_manager.unregister_worker_async(worker_id)
            )
        except Exception as exc:
            self.logger.exception(
                f"Could not unregister worker {worker_id}: {exc}",
                extra=self.log_extra("unregister_worker_error"),
            )
            return
        self.logger.debug(
            f"Unregistered finished worker {worker_id} from the database"
            + (f" ({released} unfinished job(s) released)" if released else ""),
            extra=self.log_extra("unregister_worker", released=released),
        )

