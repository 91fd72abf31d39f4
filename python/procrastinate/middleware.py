"""Middlewares: callables wrapped around the run of a task.

A middleware is called as ``middleware(call_next, context, worker)`` and
returns what ``call_next()`` returns (or awaits it). Task middlewares match
their task: plain functions wrap sync tasks (in the task's thread), coroutine
functions wrap async tasks. Worker middlewares are always async and wrap every
job a worker runs, on its event loop.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from procrastinate import exceptions, utils

if TYPE_CHECKING:
    from procrastinate import job_context, worker

SyncCallNext = Callable[[], Any]
AsyncCallNext = Callable[[], Awaitable[Any]]
SyncTaskMiddleware = Callable[[SyncCallNext, "job_context.JobContext", "worker.Worker"], Any]
AsyncTaskMiddleware = Callable[
    [AsyncCallNext, "job_context.JobContext", "worker.Worker"], Awaitable[Any]
]
TaskMiddleware = SyncTaskMiddleware | AsyncTaskMiddleware
WorkerMiddleware = AsyncTaskMiddleware


def is_async_middleware(middleware: Callable[..., Any]) -> bool:
    """Whether the middleware is async (coroutine function, partial of one,
    or object with an async ``__call__``)."""
    return utils.returns_awaitable(middleware)


def check(middlewares: Iterable[Any], *, is_async: bool | None, owner: str) -> None:
    """TypeError for a middleware that is not callable, MiddlewareKindMismatch
    for one that is not of the kind ``owner`` runs (``is_async``; None: any)."""
    for middleware in middlewares:
        if not callable(middleware):
            raise TypeError(f"Middleware {middleware!r} of {owner} is not callable.")
        if is_async is not None and is_async_middleware(middleware) != is_async:
            kind, other = ("async", "sync") if is_async else ("sync", "async")
            name = getattr(middleware, "__name__", repr(middleware))
            raise exceptions.MiddlewareKindMismatch(
                f"{other} middleware {name!r} cannot wrap {owner}: use {kind} middleware."
            )


def compose(
    middlewares: Sequence[Callable[..., Any]],
    run_task: Callable[[], Any],
    context: job_context.JobContext | None,
    worker: worker.Worker | None,
) -> Callable[[], Any]:
    """Nest the middlewares around ``run_task``, the first one outermost.
    Returns a callable without arguments (await its result for async)."""
    call_next = run_task
    for middleware in reversed(list(middlewares)):
        call_next = functools.partial(middleware, call_next, context, worker)
    return call_next
