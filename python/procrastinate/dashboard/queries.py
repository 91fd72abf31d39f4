"""What the dashboard asks the database, one small async function each;
the SQL text lives with the driver's other queries
(procrastinate._db.dashboard_queries)."""

from __future__ import annotations

import datetime
import json
from typing import Any

from procrastinate import connector as connector_module
from procrastinate._db.dashboard_queries import (
    CANCEL_JOB,
    FAILURE_GROUPS,
    ID_BOUNDS,
    JOB,
    JOBS,
    LOCKS,
    PAUSE_QUEUE,
    PERIODIC_TICKS,
    QUEUES,
    RESUME_QUEUE,
    RETRY_FAILURE_GROUP,
    RETRY_JOB,
    THROUGHPUT,
    WORKERS,
)

Connector = connector_module.BaseAsyncConnector
Row = dict[str, Any]

#: Jobs on one page of the jobs list (the SQL function allows up to 500).
PAGE_SIZE = 50
STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")


async def queues(connector: Connector) -> list[Row]:
    return await connector.execute_query_all_async(QUEUES)


async def throughput(
    connector: Connector, *, since: datetime.timedelta, buckets: int, now: datetime.datetime
) -> list[Row]:
    return await connector.execute_query_all_async(
        THROUGHPUT, since=since, buckets=buckets, now=now
    )


async def id_bounds(
    connector: Connector,
    *,
    created_from: datetime.datetime | None,
    created_to: datetime.datetime | None,
) -> tuple[int, int] | None:
    """The first and last ids of the jobs created in the range (widened by
    SQL), or None when there is none."""
    row = await connector.execute_query_one_async(
        ID_BOUNDS, created_from=created_from, created_to=created_to
    )
    return (int(row["first_id"]), int(row["last_id"])) if row else None


async def jobs(
    connector: Connector,
    *,
    queue: str | None = None,
    task: str | None = None,
    status: str | None = None,
    lock: str | None = None,
    worker_id: int | None = None,
    before_id: int | None = None,
    after_id: int | None = None,
    args: dict[str, Any] | None = None,
    created_from: datetime.datetime | None = None,
    created_to: datetime.datetime | None = None,
    limit: int = PAGE_SIZE,
) -> list[Row]:
    return await connector.execute_query_all_async(
        JOBS, queue=queue, task=task, status=status, lock=lock, worker_id=worker_id,
        before_id=before_id, after_id=after_id,
        args=None if args is None else json.dumps(args),
        created_from=created_from, created_to=created_to, limit=limit,
    )


async def periodic_ticks(connector: Connector) -> list[Row]:
    return await connector.execute_query_all_async(PERIODIC_TICKS)


async def job(connector: Connector, job_id: int) -> Row | None:
    return await connector.execute_query_one_async(JOB, job_id=job_id)


async def failure_groups(connector: Connector) -> list[Row]:
    return await connector.execute_query_all_async(FAILURE_GROUPS)


async def workers(connector: Connector) -> list[Row]:
    return await connector.execute_query_all_async(WORKERS)


async def locks(connector: Connector) -> list[Row]:
    return await connector.execute_query_all_async(LOCKS)


async def retry_job(connector: Connector, job_id: int) -> None:
    await connector.execute_query_one_async(RETRY_JOB, job_id=job_id)


async def cancel_job(connector: Connector, job_id: int, abort: bool) -> None:
    await connector.execute_query_one_async(CANCEL_JOB, job_id=job_id, abort=abort)


async def pause_queue(connector: Connector, queue: str) -> None:
    await connector.execute_query_one_async(PAUSE_QUEUE, queue=queue)


async def resume_queue(connector: Connector, queue: str) -> None:
    await connector.execute_query_one_async(RESUME_QUEUE, queue=queue)


async def retry_failure_group(connector: Connector, task: str, error_type: str | None) -> int:
    row = await connector.execute_query_one_async(
        RETRY_FAILURE_GROUP, task=task, error_type=error_type
    )
    return int(row["jobs"]) if row else 0
