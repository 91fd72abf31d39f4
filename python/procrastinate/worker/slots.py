"""Slots: long-lived asyncio tasks, each running claimed jobs one after
another.

Not one task per job: creating, scheduling and finishing a task costs more
than a no-op job (a fifth of the worker's time at thousands of jobs per
second). A job still sees what a task of its own would give it: a fresh
copy of the slot's ``contextvars`` context, and ``asyncio.current_task()``
being its slot while it runs (``asyncio.timeout``, task groups and aborts,
which cancel the slot, reach the job; the slot clears its cancel count after
each job). Only as many slots run as the jobs need: when a job waits (I/O, a
sleep, a sync task's thread) its slot wakes another, idle or new, for the
next claimed job, up to the worker's concurrency.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import time
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

from procrastinate import job_context, tracing
from procrastinate.worker import timeouts
from procrastinate.worker.executor import JobRun, Middlewares, execute

if TYPE_CHECKING:
    from procrastinate import app as app_module
    from procrastinate.worker.reporter import Reporter
    from procrastinate.worker.state import WorkerState

#: A slot running jobs that never wait lets the event loop run (reports,
#: fetches, notifications) after this many jobs in a row.
JOBS_BETWEEN_YIELDS = 32


class InContext:
    """Awaitable running ``coro`` in ``context`` (as a task of its own would),
    calling ``on_wait`` each time the coroutine waits."""

    __slots__ = ("coro", "context", "on_wait")

    def __init__(
        self,
        coro: Coroutine[Any, Any, Any],
        context: contextvars.Context,
        on_wait: Callable[[], None],
    ):
        self.coro = coro
        self.context = context
        self.on_wait = on_wait

    def __await__(self) -> Generator[Any, Any, Any]:
        run, coro = self.context.run, self.coro
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                if error is None:
                    awaited = run(coro.send, value)
                else:
                    awaited = run(coro.throw, error)
            except StopIteration as stop:
                return stop.value
            self.on_wait()
            try:
                value, error = (yield awaited), None
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - handed to the job
                value, error = None, exc


class Slots:
    def __init__(
        self,
        state: WorkerState,
        app: app_module.App,
        middlewares: Middlewares,
        reporter: Reporter,
        on_failure: Callable[[asyncio.Task[Any]], None],
    ):
        self.state = state
        self.app = app
        self.middlewares = middlewares
        self.reporter = reporter
        #: Done callback of each slot: a slot that fails (a bug) stops the
        #: worker, as a side task's would.
        self.on_failure = on_failure
        self._tasks: list[asyncio.Task[None]] = []
        self._idle: collections.deque[asyncio.Future[None]] = collections.deque()
        #: Slots woken, created or pausing, that will look at the buffer next.
        self._waking = 0
        #: Resolved once per run of the worker, not per job: without a tracer
        #: provider, OpenTelemetry looks in os.environ at each call (3% of a
        #: no-op job). A provider is set once, before the worker starts.
        self._tracer = tracing.tracer()

    def offer(self) -> None:
        """A claimed job may wait for a slot: get one more slot going, unless
        one is already on its way."""
        state = self.state
        if self._waking or not state.buffer or state.stopping.is_set():
            return
        if self._idle:
            self._waking += 1
            self._idle.popleft().set_result(None)
        elif len(self._tasks) < state.options.concurrency:
            self._waking += 1
            number = len(self._tasks) + 1
            task = asyncio.create_task(self._run(), name=f"procrastinate slot {number}")
            task.add_done_callback(self.on_failure)
            self._tasks.append(task)

    def _take_run(self) -> JobRun | None:
        """The next claimed job, now running (None when there is none, or
        once stopping)."""
        state = self.state
        if not state.buffer or state.stopping.is_set():
            return None
        job = state.buffer.pop()
        assert job.id is not None
        flag = job_context.AbortFlag()
        options = state.options
        context = job_context.JobContext(
            app=self.app,
            worker_name=options.worker_name,
            worker_queues=options.queues,
            job=job,
            start_timestamp=time.time(),
            additional_context=dict(options.additional_context or {}),
            abort_reason=flag.get,
        )
        run = JobRun(job, job.id, self.app.tasks.get(job.task_name), context, flag)
        run.deadline = timeouts.run_deadline(state.deadlines, run)
        state.running[job.id] = run
        if state.metrics is not None:
            state.metrics.job_started(run)
        return run

    def _run_ended(self, run: JobRun) -> None:
        """The run is over (its outcome handed on): free its place."""
        state = self.state
        if state.running.get(run.job_id) is run:
            del state.running[run.job_id]
        state.job_ended.set()
        if run.end_timestamp is not None:
            state.buffer.job_lasted(run.end_timestamp - run.context.start_timestamp)
        if state.last_fetch_full or not state.options.wait:
            state.wake.set()

    async def _run(self) -> None:
        state, middlewares = self.state, self.middlewares
        me = asyncio.current_task()
        assert me is not None
        uncancel_all = _uncancel_all if hasattr(me, "uncancel") else None  # 3.11+
        loop = asyncio.get_running_loop()
        self._waking -= 1
        streak = 0
        while True:
            run = self._take_run()
            if run is None:
                if state.stopping.is_set():
                    return
                streak = 0
                wake: asyncio.Future[None] = loop.create_future()
                self._idle.append(wake)
                await wake
                self._waking -= 1
                continue
            run.asyncio_task = me
            timer = None if run.deadline is None else timeouts.start_timer(run, run.deadline)
            try:
                await InContext(
                    tracing.run(self._tracer, run, execute(state, middlewares, run)),
                    contextvars.copy_context(),
                    self.offer,
                )
                # (Unregistered already after an immediate stop: the database
                # released the job.)
                if not (state.stop_now.is_set() and state.worker_id is None):
                    self.reporter.add(run)
            finally:
                if timer is not None:
                    timer.cancel()
                # Even if this slot fails (a bug): the run must not stay "running".
                run.asyncio_task = None
                if uncancel_all is not None:
                    uncancel_all(me)
                self._run_ended(run)
            streak += 1
            if streak >= JOBS_BETWEEN_YIELDS:
                streak = 0
                self._waking += 1  # back to the buffer after this pause
                try:
                    await asyncio.sleep(0)
                finally:
                    self._waking -= 1

    async def close(self, timeout: float) -> None:
        """Stop every slot: idle ones at once; a job still running (left by
        an immediate stop) is cancelled, and waited for at most ``timeout``."""
        tasks = [task for task in self._tasks if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)


def _uncancel_all(task: asyncio.Task[Any]) -> None:
    """Forget cancels the job caught: they were not the next job's."""
    while task.cancelling():
        task.uncancel()
