"""Deferring a job inside the caller's own psycopg transaction.

``defer_in_transaction(connection, task, **task_kwargs)`` runs the one defer
call of the SQL core (``procrastinate_defer_jobs_v2``) on the psycopg
connection it is given, not on the app's pool: the job exists if and only if
that connection's transaction commits (see docs/transactions.md).
``defer_in_transaction_async`` is the same on a ``psycopg.AsyncConnection``.

``task`` is a Task (its defaults apply) or what ``task.configure(...)`` and
``app.configure_task(name, ...)`` return, to set a lock, a queue, a schedule
or to defer by task name.
"""

from __future__ import annotations

import logging
from typing import Any, Union

import psycopg

from procrastinate import exceptions, jobs, tasks
from procrastinate._db import queries, wire

logger = logging.getLogger(__name__)

Deferrable = Union["tasks.Task[..., Any]", jobs.JobDeferrer]


def _prepare(task: Deferrable, task_kwargs: dict[str, Any]) -> tuple[jobs.Job, str]:
    """The job and its JSON payload (validated before anything is sent)."""
    deferrer = task.configure() if isinstance(task, tasks.Task) else task
    if not isinstance(deferrer, jobs.JobDeferrer):
        raise TypeError(
            "defer_in_transaction takes a task, task.configure(...) or "
            f"app.configure_task(name, ...), not {type(task).__name__}"
        )
    job = deferrer.make_new_job(**task_kwargs)
    payload = deferrer.job_manager.connector.dump_json(
        [wire.job_object(job, deferrer.retry_policy)]
    )
    return job, payload


def _deferred(job: jobs.Job, row: Any) -> jobs.JobId:
    # The caller's connection may have any row factory.
    job_id = jobs.JobId(row["id"] if isinstance(row, dict) else row[0])
    logger.info(
        "Deferred 1 job in the caller's transaction",
        extra={"action": "jobs_deferred", "jobs": [job.evolve(id=job_id).log_context()]},
    )
    return job_id


def defer_in_transaction(
    connection: psycopg.Connection[Any], task: Deferrable, /, **task_kwargs: Any
) -> jobs.JobId:
    """Defer a job on ``connection``, in its current transaction; returns
    the job id. The job is visible to workers once that transaction commits
    and never exists if it rolls back. Raises as ``task.defer`` does
    (AlreadyEnqueued, InvalidJobDefinition, UnserializableArguments); a
    database error leaves the caller's transaction failed, as any failed
    statement does."""
    job, payload = _prepare(task, task_kwargs)
    try:
        row = connection.execute(queries.DEFER_JOBS, {"jobs": payload}).fetchone()
    except psycopg.Error as exc:
        raise exceptions.from_database_error(exc) from exc
    return _deferred(job, row)


async def defer_in_transaction_async(
    connection: psycopg.AsyncConnection[Any], task: Deferrable, /, **task_kwargs: Any
) -> jobs.JobId:
    """``defer_in_transaction`` on a ``psycopg.AsyncConnection``."""
    job, payload = _prepare(task, task_kwargs)
    try:
        cursor = await connection.execute(queries.DEFER_JOBS, {"jobs": payload})
        row = await cursor.fetchone()
    except psycopg.Error as exc:
        raise exceptions.from_database_error(exc) from exc
    return _deferred(job, row)
