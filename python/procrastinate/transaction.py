"""Deferring a job inside the caller's own psycopg transaction.

``defer_in_transaction(connection, task, **task_kwargs)`` defers on the psycopg
connection it is given, not on the app's pool: the job exists if and only if
that connection's transaction commits (see docs/transactions.md). It is
``task.configure(connection=connection).defer(**task_kwargs)`` (procrastinate
3.10's external connection), under a name that says what it is for.
``defer_in_transaction_async`` is the same on a ``psycopg.AsyncConnection``.

``task`` is a Task (its defaults apply) or what ``task.configure(...)`` and
``app.configure_task(name, ...)`` return, to set a lock, a queue, a schedule
or to defer by task name.
"""

from __future__ import annotations

from typing import Any, Union

import psycopg

from procrastinate import jobs, tasks

Deferrable = Union["tasks.Task[..., Any, ...]", jobs.JobDeferrer]


def _on(connection: Any, task: Deferrable) -> jobs.JobDeferrer:
    """``task``'s deferrer, deferring on ``connection``."""
    deferrer = task.configure() if isinstance(task, tasks.Task) else task
    if not isinstance(deferrer, jobs.JobDeferrer):
        raise TypeError(
            "defer_in_transaction takes a task, task.configure(...) or "
            f"app.configure_task(name, ...), not {type(task).__name__}"
        )
    return jobs.JobDeferrer(
        deferrer.job_manager, deferrer.job, deferrer.retry_policy, connection=connection
    )


def defer_in_transaction(
    connection: psycopg.Connection[Any], task: Deferrable, /, **task_kwargs: Any
) -> jobs.JobId:
    """Defer a job on ``connection``, in its current transaction; returns
    the job id. The job is visible to workers once that transaction commits
    and never exists if it rolls back. Raises as ``task.defer`` does
    (AlreadyEnqueued, InvalidJobDefinition, UnserializableArguments); a
    database error leaves the caller's transaction failed, as any failed
    statement does."""
    return _on(connection, task).defer(**task_kwargs)


async def defer_in_transaction_async(
    connection: psycopg.AsyncConnection[Any], task: Deferrable, /, **task_kwargs: Any
) -> jobs.JobId:
    """``defer_in_transaction`` on a ``psycopg.AsyncConnection``."""
    return await _on(connection, task).defer_async(**task_kwargs)
