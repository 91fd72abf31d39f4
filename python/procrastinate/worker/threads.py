"""Sync tasks' threads: a pool of reusable daemon threads, how a job's
function runs in one while the event loop awaits it, and how that run is
interrupted (a job's timeout): an exception raised in the thread."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
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


def _set_async_exc(ident: int, exc_type: type[BaseException] | None) -> None:
    """Raise ``exc_type`` in thread ``ident`` at its next Python bytecode
    (None: forget one not raised yet). CPython's PyThreadState_SetAsyncExc."""
    exc = None if exc_type is None else ctypes.py_object(exc_type)
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), exc)


class Interruptible:
    """One function's run in a pool thread, which another thread may
    interrupt: ``interrupt(SomeError)`` raises ``SomeError`` in the thread
    while it runs the function, at most once, and never after it (the thread
    moves on to other jobs: ``finish`` forgets an exception not raised yet).

    What it reaches: Python code, at its next bytecode. Not a blocking call
    into C (time.sleep, a socket read, a lock's acquire, a long C loop): the
    exception is raised once that call returns to Python.
    """

    __slots__ = ("_fired", "_ident", "_lock", "_state")

    _WAITING, _RUNNING, _DONE = 0, 1, 2

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ident: int | None = None
        self._state = self._WAITING
        self._fired = False

    def start(self) -> bool:
        """In the thread, before the function: False when interrupted before
        it started (then it must not run)."""
        with self._lock:
            if self._state != self._WAITING:
                return False
            self._ident = threading.get_ident()
            self._state = self._RUNNING
            return True

    def finish(self) -> None:
        """In the thread, once the function ended (again if an interruption
        was raised on the way: it is idempotent)."""
        with self._lock:
            if self._state == self._RUNNING and self._fired:
                assert self._ident is not None
                _set_async_exc(self._ident, None)
            self._state = self._DONE

    def interrupt(self, exc_type: type[BaseException]) -> bool:
        """Raise ``exc_type`` in the thread if it runs the function now;
        True if so. A function not started yet never starts (False: the
        caller stops waiting for it); one that ended is left alone (False)."""
        with self._lock:
            if self._state == self._WAITING:
                self._state = self._DONE
                return False
            if self._state != self._RUNNING or self._fired:
                return False
            self._fired = True
            assert self._ident is not None
            _set_async_exc(self._ident, exc_type)
            return True


async def run_in_thread(
    func: Callable[[], T], name: str, interruptible: Interruptible | None = None
) -> T:
    """Run ``func`` in a daemon thread of the pool and await its result.
    The thread carries ``name`` while it runs ``func``; ``interruptible``
    lets the caller raise an exception in it (Interruptible.interrupt)."""
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
        outcome: tuple[Any, BaseException | None] | None = None
        # An interruption is raised once at most, anywhere until finish()
        # ran: in func (caught below as its error), or after it (caught by
        # the outer handler). Either way one outcome is settled and the
        # thread goes back to the pool clean.
        try:
            try:
                if interruptible is None or interruptible.start():
                    outcome = (context.run(func), None)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
                outcome = (None, exc)
            finally:
                if interruptible is not None:
                    interruptible.finish()
        except BaseException as exc:  # noqa: BLE001 - the interruption, after func
            if interruptible is not None:
                interruptible.finish()
            outcome = (None, exc)
        finally:
            thread.name = pool_name
        if outcome is None:
            return  # interrupted before it started: the caller stopped waiting
        with contextlib.suppress(RuntimeError):  # the loop is gone: the worker stopped at once
            loop.call_soon_threadsafe(settle, *outcome)

    _THREADS.submit(target)
    return await future
