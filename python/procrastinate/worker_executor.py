"""Running one job: the worker's executor.

``execute`` calls the job's task (async tasks on the event loop, sync tasks in
a thread of their own) through the middlewares, then turns what happened into
an outcome for ``procrastinate_finish_jobs_v1``. It knows no SQL: the outcome
goes to the worker's reporter. Retry timing is never computed here: a plain
RetryStrategy travelled with the job and the database applies it; only a
custom strategy's explicit decision is sent along.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import inspect
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from procrastinate import exceptions, job_context, jobs, manager, middleware, retry

if TYPE_CHECKING:
    from procrastinate import tasks, worker

logger = logging.getLogger(__name__)

T = TypeVar("T")

AbortReason = job_context.AbortReason


@dataclasses.dataclass(eq=False)
class JobRun:
    """One job held by the worker, from fetch to report."""

    job: jobs.Job
    task: tasks.Task | None
    context: job_context.JobContext
    flag: job_context.AbortFlag
    #: The slot (worker_slots) running the job: set while it runs, only then.
    asyncio_task: asyncio.Task[None] | None = None
    #: Filled when the run ends.
    result: Any = None
    exception: BaseException | None = None
    end_timestamp: float | None = None
    outcome: dict[str, Any] | None = None
    #: Reports of the outcome refused by the database (worker_reporter).
    report_refusals: int = 0

    @functools.cached_property
    def is_async(self) -> bool:
        return self.task is not None and is_coroutine_function(self.task.func)

    @property
    def aborted_by_shutdown(self) -> bool:
        """Cut short by its worker (stopping, or losing its lease), not by
        an abort someone asked for."""
        return self.outcome_kind == "aborted" and self.flag.get() in (
            AbortReason.SHUTDOWN,
            AbortReason.LEASE_LOST,
        )

    @property
    def outcome_kind(self) -> str:
        """succeeded, aborted or failed: what the run did (before any retry)."""
        if self.exception is None:
            return "succeeded"
        if isinstance(self.exception, (exceptions.JobAborted, asyncio.CancelledError)):
            return "aborted"
        return "failed"

    def job_result(self) -> job_context.JobResult:
        return job_context.JobResult(
            start_timestamp=self.context.start_timestamp,
            end_timestamp=self.end_timestamp,
            result=self.result,
        )


#: Seconds an idle thread of the sync-task pool waits for work before it ends.
THREAD_IDLE_TIMEOUT = 60.0


class DaemonThreadPool:
    """Reusable daemon threads for sync tasks: one is started only when none
    is idle, so there are never more than the worker's concurrency, and a
    job costs no thread creation.

    Daemon threads, not concurrent.futures (whose threads are joined at
    interpreter exit): a worker stopped at once must be able to exit while a
    sync task that ignores ``should_abort`` still runs (its job is then
    released to the queue by the database when the worker unregisters).
    """

    def __init__(self, idle_timeout: float = THREAD_IDLE_TIMEOUT):
        self.idle_timeout = idle_timeout
        self._reset()

    def _reset(self) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)  # one token per idle thread
        self._count = itertools.count(1)

    def submit(self, work: Callable[[], None]) -> None:
        self._queue.put(work)
        if not self._idle.acquire(blocking=False):
            name = f"procrastinate sync task {next(self._count)}"
            threading.Thread(target=self._serve, name=name, daemon=True).start()

    def _serve(self) -> None:
        get, idle = self._queue.get, self._idle
        while True:
            try:
                work = get(timeout=self.idle_timeout)
            except queue.Empty:
                if idle.acquire(blocking=False):
                    return  # no submitter counts on this thread any more
                continue  # one does: its work is in the queue
            work()
            del work
            idle.release()


_THREADS = DaemonThreadPool()
if hasattr(os, "register_at_fork"):  # threads do not survive a fork
    os.register_at_fork(after_in_child=_THREADS._reset)


async def run_in_thread(func: Callable[[], T], name: str) -> T:
    """Run ``func`` in a daemon thread of the pool and await its result.
    The thread carries ``name`` while it runs ``func``."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def target() -> None:
        value: Any = None
        error: BaseException | None = None
        thread = threading.current_thread()
        pool_name, thread.name = thread.name, name
        try:
            value = context.run(func)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
            error = exc
        finally:
            thread.name = pool_name
        try:
            loop.call_soon_threadsafe(settle, value, error)
        except RuntimeError:  # the loop is gone: the worker stopped at once
            pass

    _THREADS.submit(target)
    return await future


@functools.lru_cache(maxsize=1024)
def _is_coroutine_function(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(func)


def is_coroutine_function(func: Callable[..., Any]) -> bool:
    """inspect.iscoroutinefunction, remembered per function (asked per job)."""
    try:
        return _is_coroutine_function(func)
    except TypeError:  # unhashable callable
        return inspect.iscoroutinefunction(func)


def task_middlewares(
    worker: worker.Worker, task: tasks.Task, task_is_async: bool
) -> list[Any]:
    """The worker-wide task middlewares of the task's kind (outermost), then
    the task's own."""
    if not worker.task_middleware:
        return list(task.task_middleware)
    chosen = []
    for mw in worker.task_middleware:
        if middleware.is_async_middleware(mw) == task_is_async:
            chosen.append(mw)
        else:
            worker.logger.debug(
                f"Skipping worker-wide {'sync' if task_is_async else 'async'} middleware "
                f"{getattr(mw, '__name__', repr(mw))!r} for "
                f"{'async' if task_is_async else 'sync'} task {task.name!r}",
                extra={"action": "skip_task_middleware", "task": task.name},
            )
    return chosen + list(task.task_middleware)


async def _call_task(worker: worker.Worker, run: JobRun) -> Any:
    task = run.task
    assert task is not None
    context, job = run.context, run.job
    args = [context] if task.pass_context else []
    task_is_async = run.is_async
    chain = task_middlewares(worker, task, task_is_async)

    if task_is_async and not chain:
        result = await task(*args, **job.task_kwargs)
    elif task_is_async:

        async def call_async() -> Any:
            return await task(*args, **job.task_kwargs)

        result = await middleware.compose(chain, call_async, context, worker)()
    else:

        def call_sync() -> Any:
            return task(*args, **job.task_kwargs)

        composed = middleware.compose(chain, call_sync, context, worker)
        result = await run_in_thread(composed, name=f"procrastinate job {job.id}")
    # A sync function may return an awaitable (e.g. a coroutine): run it here.
    if inspect.isawaitable(result):
        result = await result
    return result


def _retry_member(run: JobRun) -> dict[str, Any] | bool | None:
    """The outcome's ``retry``: None (absent: the job's own policy decides),
    False (never) or an explicit decision from a custom strategy."""
    if run.task is None or run.job.decode_error is not None:
        return False
    strategy = run.task.retry_strategy
    if strategy is None or retry.is_sql_strategy(strategy):
        return None
    assert run.exception is not None
    try:
        job_retry = run.task.get_retry_exception(exception=run.exception, job=run.job)
    except Exception:
        logger.exception(
            f"Retry strategy of {run.task.name} failed; the job will not be retried",
            extra={"action": "retry_strategy_error", "job": run.job.log_context()},
        )
        return False
    return retry.retry_decision_to_outcome(job_retry.retry_decision if job_retry else None)


def build_outcome(run: JobRun) -> dict[str, Any]:
    """The outcome to report for a run that ended (its error message is
    jsonb-safe: manager.error_message escapes NUL)."""
    kind = run.outcome_kind
    if kind == "succeeded":
        return manager.build_outcome(run.job, jobs.Status.SUCCEEDED)
    if kind == "aborted" and not run.aborted_by_shutdown:
        return manager.build_outcome(run.job, jobs.Status.ABORTED, exception=run.exception)
    strategy = run.task.retry_strategy if run.task else None
    # A run stopped because its worker lost its lease goes back to the queue
    # at once, as the rescue would have put it: the job did not fail.
    lease_lost = run.flag.get() is AbortReason.LEASE_LOST
    decision = {"in": 0} if lease_lost else _retry_member(run)
    # A run cut short by a shutdown is reported as interrupted: the database
    # applies the job's retry policy to it (or the decision sent), and ends
    # it aborted when there is none.
    interrupted = kind == "aborted"
    outcome = manager.build_outcome(
        run.job,
        jobs.Status.ABORTED if interrupted else jobs.Status.FAILED,
        exception=run.exception,
        retry_decision=decision,
        interrupted=interrupted,
    )
    if decision is None and retry.is_sql_strategy(strategy):
        # Applied by the database only to a job deferred without a policy
        # (from SQL, say): the task's policy as this worker knows it.
        outcome["policy"] = strategy.to_sql_policy()  # type: ignore[union-attr]
    return outcome


async def execute(worker: worker.Worker, run: JobRun) -> None:
    """Run the job, then hand the run (with its outcome) to the reporter."""
    job, context = run.job, run.context
    extra = worker.log_extra
    log = worker.logger
    try:
        if job.decode_error is not None:
            raise exceptions.UndecodableArguments(job.decode_error)
        if run.task is None:
            raise exceptions.TaskNotFound(
                f"Task {job.task_name!r} is not registered in this worker's app"
            )
        # Guarded: the log records (and their extra) cost more than a no-op job.
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                f"Loaded job info, about to start job {job.call_string}",
                extra=extra("loaded_job_info", run),
            )
        if log.isEnabledFor(logging.INFO):
            log.info(f"Starting job {job.call_string}", extra=extra("start_job", run))

        if worker.worker_middleware:

            async def run_job() -> Any:
                return await _call_task(worker, run)

            run.result = await middleware.compose(
                worker.worker_middleware, run_job, context, worker
            )()
        else:
            run.result = await _call_task(worker, run)
    except BaseException as exc:  # noqa: BLE001 - every end of a job is reported
        run.exception = exc
        if isinstance(exc, asyncio.CancelledError):
            current = asyncio.current_task()
            if current is not None and hasattr(current, "uncancel"):
                current.uncancel()
        if isinstance(exc, exceptions.TaskNotFound):
            worker.logger.error(
                f"Task was not found: {exc}",
                extra=extra("task_not_found", run, exception=str(exc)),
            )
    finally:
        run.end_timestamp = time.time()
    run.outcome = build_outcome(run)
    worker.job_ended(run)
