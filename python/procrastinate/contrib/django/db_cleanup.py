"""DjangoApp: an App whose workers treat Django's connections as a request does.

A worker runs each sync task in a thread of its own: a connection the task
opens through the ORM belongs to that thread and would outlive the job. The
task middlewares below close it when the job ends (sync tasks), or close the
connections whose CONN_MAX_AGE passed (async tasks, whose ORM calls share
one thread), as Django does at the end of a request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from procrastinate import app as app_module

if TYPE_CHECKING:
    from procrastinate import job_context, worker
    from procrastinate.middleware import AsyncCallNext, SyncCallNext


def close_db_connections(
    call_next: SyncCallNext, context: job_context.JobContext, worker: worker.Worker
) -> Any:
    """Sync task middleware: close the job thread's Django connections after it."""
    from django.db import connections

    try:
        return call_next()
    finally:
        connections.close_all()


async def close_db_connections_async(
    call_next: AsyncCallNext, context: job_context.JobContext, worker: worker.Worker
) -> Any:
    """Async task middleware: close Django connections past CONN_MAX_AGE (or
    broken) before and after the job, in the thread the async ORM uses."""
    from asgiref.sync import sync_to_async
    from django.db import close_old_connections

    cleanup = sync_to_async(close_old_connections, thread_sensitive=True)
    await cleanup()
    try:
        return await call_next()
    finally:
        await cleanup()


def with_db_cleanup(worker_defaults: dict[str, Any] | None) -> dict[str, Any]:
    """``worker_defaults`` with the two middlewares first (outermost) in
    ``task_middleware``; the worker gives each task the one of its kind."""
    defaults = dict(worker_defaults or {})
    defaults["task_middleware"] = [
        close_db_connections,
        close_db_connections_async,
        *(defaults.get("task_middleware") or []),
    ]
    return defaults


class DjangoApp(app_module.App):
    """The App the integration builds (``procrastinate.contrib.django.app``).
    Use it for other apps of a Django project (a test's own app, say) so
    that their workers clean Django's connections up too."""

    def __init__(self, *, worker_defaults: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(worker_defaults=with_db_cleanup(worker_defaults), **kwargs)
