"""Slots: the worker's long-lived asyncio tasks, each running jobs one after
another.

Why not one asyncio task per job: creating, scheduling and finishing a task
costs more than a no-op job; at thousands of jobs per second it was a fifth
of the worker's time. A slot takes the next claimed job from the prefetch
buffer, runs it, and takes the next; a job that ends without waiting on
anything costs no trip through the event loop.

A job sees what a task of its own would give it:

- its own ``contextvars``: each job runs in a fresh copy of the slot's
  context, which no job changes, so a value one job sets never reaches the
  next;
- ``asyncio.current_task()`` is its slot while it runs, so ``asyncio.timeout``,
  task groups and the worker's aborts (which cancel the slot) reach the job;
  the slot clears its cancel count after each job.

Only as many slots run as the jobs need: one slot goes on taking jobs while
they end without waiting; when a job waits (I/O, a sleep, a sync task's
thread) its slot wakes another, idle or new, for the next claimed job. There
are never more slots than the worker's concurrency.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

from procrastinate.worker_executor import execute

if TYPE_CHECKING:
    from procrastinate import worker

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
    def __init__(self, worker: worker.Worker):
        self.worker = worker
        self._tasks: list[asyncio.Task[None]] = []
        self._idle: collections.deque[asyncio.Future[None]] = collections.deque()
        #: Slots woken, created or pausing, that will look at the buffer next.
        self._waking = 0

    def offer(self) -> None:
        """A claimed job may wait for a slot: get one more slot going, unless
        one is already on its way."""
        worker = self.worker
        if self._waking or not worker._buffer or worker._stopping.is_set():
            return
        if self._idle:
            self._waking += 1
            self._idle.popleft().set_result(None)
        elif len(self._tasks) < worker.concurrency:
            self._waking += 1
            number = len(self._tasks) + 1
            task = asyncio.create_task(self._run(), name=f"procrastinate slot {number}")
            # A slot that fails (a bug) stops the worker, as a side task's would.
            task.add_done_callback(worker._side_task_done)
            self._tasks.append(task)

    async def _run(self) -> None:
        worker = self.worker
        me = asyncio.current_task()
        assert me is not None
        uncancel_all = _uncancel_all if hasattr(me, "uncancel") else None  # 3.11+
        loop = asyncio.get_running_loop()
        self._waking -= 1
        streak = 0
        while True:
            run = worker.take_run()
            if run is None:
                if worker._stopping.is_set():
                    return
                streak = 0
                wake: asyncio.Future[None] = loop.create_future()
                self._idle.append(wake)
                await wake
                self._waking -= 1
                continue
            run.asyncio_task = me
            try:
                await InContext(execute(worker, run), contextvars.copy_context(), self.offer)
            finally:
                # Even if this slot fails (a bug): the run must not stay "running".
                run.asyncio_task = None
                if uncancel_all is not None:
                    uncancel_all(me)
                worker.run_ended(run)
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
