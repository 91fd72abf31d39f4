"""Running one job: ``execute`` calls the task through the middlewares
(async tasks on the event loop, sync tasks in a thread) and returns the
outcome; the slot hands it to the reporter. No SQL, and no retry timing: the
database applies the job's policy; only a custom strategy's decision is sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procrastinate import exceptions, job_context, jobs, middleware, retry
from procrastinate._db import wire
from procrastinate.worker import timeouts
from procrastinate.worker.threads import Interruptible, run_in_thread

if TYPE_CHECKING:
    from procrastinate import tasks
    from procrastinate.worker.state import WorkerState

logger = logging.getLogger(__name__)

AbortReason = job_context.AbortReason


@dataclasses.dataclass(eq=False)
class JobRun:
    """One job held by the worker, from fetch to report."""

    job: jobs.Job
    job_id: int  # job.id, never None once fetched
    task: tasks.Task | None
    context: job_context.JobContext
    flag: job_context.AbortFlag
    #: The slot (worker.slots) running the job: set while it runs, only then.
    asyncio_task: asyncio.Task[None] | None = None
    #: Filled when the run ends.
    result: Any = None
    exception: BaseException | None = None
    end_timestamp: float | None = None
    outcome: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Reports of the outcome refused by the database (worker.reporter).
    report_refusals: int = 0
    #: The database does not give the job to this worker (worker.reconcile):
    #: its outcome is not reported (it could apply to a later claim).
    disowned: bool = False
    #: When the run must end (time.monotonic; None: no timeout).
    deadline: float | None = None
    #: The run reached its deadline (worker.timeouts): it fails with JobTimeout.
    timed_out: bool = False
    #: A sync task's run in its thread, to interrupt at the deadline.
    thread: Interruptible | None = None

    @functools.cached_property
    def is_async(self) -> bool:
        return self.task is not None and is_coroutine_function(self.task.func)

    @property
    def outcome_kind(self) -> str:
        """succeeded, aborted or failed: what the run did (before any retry)."""
        if self.exception is None:
            return "succeeded"
        if isinstance(self.exception, (exceptions.JobAborted, asyncio.CancelledError)):
            return "aborted"
        return "failed"


@functools.lru_cache(maxsize=1024)
def _is_coroutine_function(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(func)


def is_coroutine_function(func: Callable[..., Any]) -> bool:
    """inspect.iscoroutinefunction, remembered per function (asked per job)."""
    try:
        return _is_coroutine_function(func)
    except TypeError:  # unhashable callable
        return inspect.iscoroutinefunction(func)


@dataclasses.dataclass(frozen=True)
class Middlewares:
    """The worker's middlewares, and what they receive as their ``worker``
    argument (procrastinate's API: the Worker object)."""

    task: list[Any]
    worker: list[Any]
    owner: Any

    def __post_init__(self) -> None:
        middleware.check(self.task, is_async=None, owner="the worker")
        middleware.check(
            self.worker,
            is_async=True,
            owner="the worker's jobs (worker middleware runs on the event loop)",
        )

def task_middlewares(
    state: WorkerState, middlewares: Middlewares, task: tasks.Task, task_is_async: bool
) -> list[Any]:
    """The worker-wide task middlewares of the task's kind (outermost), then
    the task's own."""
    if not middlewares.task:
        return list(task.task_middleware)
    chosen = []
    for mw in middlewares.task:
        if middleware.is_async_middleware(mw) == task_is_async:
            chosen.append(mw)
        else:
            state.logger.debug(
                f"Skipping worker-wide {'sync' if task_is_async else 'async'} middleware "
                f"{getattr(mw, '__name__', repr(mw))!r} for "
                f"{'async' if task_is_async else 'sync'} task {task.name!r}",
                extra={"action": "skip_task_middleware", "task": task.name},
            )
    return chosen + list(task.task_middleware)


async def _call_task(state: WorkerState, middlewares: Middlewares, run: JobRun) -> Any:
    task = run.task
    assert task is not None
    context, job = run.context, run.job
    args = [context] if task.pass_context else []
    call: Callable[[], Any] = functools.partial(task, *args, **job.task_kwargs)
    if chain := task_middlewares(state, middlewares, task, run.is_async):
        call = middleware.compose(chain, call, context, middlewares.owner)
    if run.is_async:
        result = await call()
    else:
        if run.deadline is not None:
            run.thread = Interruptible()
        result = await run_in_thread(
            call, name=f"procrastinate job {job.id}", interruptible=run.thread
        )
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


def build_outcome(run: JobRun, dump_json: Callable[[Any], str]) -> dict[str, Any]:
    """The outcome to report for a run that ended (its error message is
    jsonb-safe: wire.error_message escapes NUL), with what the task returned
    when the job stores its result (if ``dump_json`` can encode it)."""
    kind = run.outcome_kind
    if kind == "succeeded":
        outcome = wire.build_outcome(run.job, jobs.Status.SUCCEEDED)
        if run.job.store_result:
            outcome.update(wire.result_member(run.result, dump_json))
        return outcome
    # Aborted on request; not cut short by its worker (stopping, losing its lease).
    if kind == "aborted" and run.flag.get() not in (AbortReason.SHUTDOWN, AbortReason.LEASE_LOST):
        return wire.build_outcome(run.job, jobs.Status.ABORTED, exception=run.exception)
    strategy = run.task.retry_strategy if run.task else None
    # A run stopped because its worker lost its lease goes back to the queue
    # at once, as the rescue would have put it: the job did not fail.
    lease_lost = run.flag.get() is AbortReason.LEASE_LOST
    decision = {"in": 0} if lease_lost else _retry_member(run)
    # A run cut short by a shutdown is reported as interrupted: the database
    # applies the job's retry policy to it (or the decision sent), and ends
    # it aborted when there is none.
    interrupted = kind == "aborted"
    outcome = wire.build_outcome(
        run.job,
        jobs.Status.ABORTED if interrupted else jobs.Status.FAILED,
        exception=run.exception,
        retry_decision=decision,
        interrupted=interrupted,
        with_traceback=not interrupted,
    )
    if decision is None and retry.is_sql_strategy(strategy):
        # Applied by the database only to a job deferred without a policy
        # (from SQL, say): the task's policy as this worker knows it.
        outcome["policy"] = strategy.to_sql_policy()  # type: ignore[union-attr]
    return outcome


async def execute(
    state: WorkerState, middlewares: Middlewares, run: JobRun
) -> dict[str, Any]:
    """Run the job; return its outcome (also kept as ``run.outcome``)."""
    job, context = run.job, run.context
    extra = state.log_extra
    log = state.logger
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
        if run.deadline is not None and time.monotonic() >= run.deadline:
            # Claimed ahead and its deadline passed in the buffer: not started
            # with no time left (its retry policy applies).
            run.timed_out = True
            raise timeouts.timeout_error(run)
        if job.parents:
            # what the jobs it was deferred after returned (a failed read
            # fails this run, which its retry policy may run again)
            rows = await state.db_call(state.read_results(job.parents))
            run.context = context = context.evolve(
                parent_results={row["job_id"]: row["result"] for row in rows}
            )

        call: Callable[[], Any] = functools.partial(_call_task, state, middlewares, run)
        if middlewares.worker:
            call = middleware.compose(middlewares.worker, call, context, middlewares.owner)
        run.result = await call()
    except BaseException as exc:  # noqa: BLE001 - every end of a job is reported
        run.exception = exc
        if isinstance(exc, asyncio.CancelledError):
            current = asyncio.current_task()
            if current is not None and hasattr(current, "uncancel"):
                current.uncancel()
        if isinstance(exc, exceptions.JobTimeout) or run.timed_out:
            state.log(
                logging.WARNING,
                "job_timeout",
                f"Job {job.call_string} ran past its deadline: stopped",
                run,
            )
        if isinstance(exc, exceptions.TaskNotFound):
            message = f"Task was not found: {exc}"
            state.log(logging.ERROR, "task_not_found", message, run, exception=str(exc))
    finally:
        run.end_timestamp = time.time()
    if run.timed_out and not isinstance(run.exception, exceptions.JobTimeout):
        # Whatever the run did once stopped (even catching the cancellation
        # and returning): past its deadline, it failed.
        error = timeouts.timeout_error(run)
        error.__cause__ = run.exception
        run.exception = error
    run.outcome = outcome = build_outcome(run, state.dump_json)
    return outcome
