"""Sync tasks' threads: a pool of reusable daemon threads, and how a job's
function runs in one while the event loop awaits it."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


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
        thread = threading.current_thread()
        pool_name, thread.name = thread.name, name
        try:
            outcome: tuple[Any, BaseException | None] = (context.run(func), None)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
            outcome = (None, exc)
        finally:
            thread.name = pool_name
        with contextlib.suppress(RuntimeError):  # the loop is gone: the worker stopped at once
            loop.call_soon_threadsafe(settle, *outcome)

    _THREADS.submit(target)
    return await future
