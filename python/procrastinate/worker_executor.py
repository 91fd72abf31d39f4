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
import inspect
import logging
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
    #: The asyncio task running ``execute`` (set by the worker).
    asyncio_task: asyncio.Task[None] | None = None
    #: Filled when the run ends.
    result: Any = None
    exception: BaseException | None = None
    end_timestamp: float | None = None
    outcome: dict[str, Any] | None = None

    @property
    def is_async(self) -> bool:
        return self.task is not None and inspect.iscoroutinefunction(self.task.func)

    @property
    def aborted_by_shutdown(self) -> bool:
        return self.outcome_kind == "aborted" and self.flag.get() is AbortReason.SHUTDOWN

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


async def run_in_thread(func: Callable[[], T], name: str) -> T:
    """Run ``func`` in a new daemon thread and await its result.

    Daemon threads, not an executor: a worker stopped at once must be able to
    exit while a sync task that ignores ``should_abort`` still runs (its job
    is then released to the queue by the database when the worker unregisters).
    """
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
        try:
            value = context.run(func)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
            error = exc
        try:
            loop.call_soon_threadsafe(settle, value, error)
        except RuntimeError:  # the loop is gone: the worker stopped at once
            pass

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


def task_middlewares(
    worker: worker.Worker, task: tasks.Task, task_is_async: bool
) -> list[Any]:
    """The worker-wide task middlewares of the task's kind (outermost), then
    the task's own."""
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
    task_is_async = inspect.iscoroutinefunction(task.func)
    chain = task_middlewares(worker, task, task_is_async)

    if task_is_async:

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
    if run.task is None:
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
    """The outcome to report for a run that ended."""
    outcome = _outcome(run)
    if "error" in outcome:
        # jsonb refuses the NUL character.
        message = outcome["error"]["message"]
        outcome["error"]["message"] = message.replace("\x00", "\\x00")
    return outcome


def _outcome(run: JobRun) -> dict[str, Any]:
    kind = run.outcome_kind
    if kind == "succeeded":
        return manager.build_outcome(run.job, jobs.Status.SUCCEEDED)
    if kind == "aborted" and not run.aborted_by_shutdown:
        return manager.build_outcome(run.job, jobs.Status.ABORTED, exception=run.exception)
    strategy = run.task.retry_strategy if run.task else None
    decision = _retry_member(run)
    if kind == "aborted" and (strategy is None or decision is False):
        # Stopped by a shutdown: it runs again only if its retry strategy
        # says so (as upstream); otherwise it ends aborted.
        return manager.build_outcome(run.job, jobs.Status.ABORTED, exception=run.exception)
    outcome = manager.build_outcome(
        run.job, jobs.Status.FAILED, exception=run.exception, retry_decision=decision
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
    try:
        if run.task is None:
            raise exceptions.TaskNotFound(
                f"Task {job.task_name!r} is not registered in this worker's app"
            )
        worker.logger.debug(
            f"Loaded job info, about to start job {job.call_string}",
            extra=extra("loaded_job_info", run),
        )
        worker.logger.info(f"Starting job {job.call_string}", extra=extra("start_job", run))

        async def run_job() -> Any:
            return await _call_task(worker, run)

        run.result = await middleware.compose(worker.worker_middleware, run_job, context, worker)()
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
