"""Every SQL text the dashboard sends, each behind a small async function.

Reads go through the ops views (sql/90_ops_views.sql) and the dashboard's
functions (sql/92_dashboard.sql); actions through the user-facing functions
of sql/50_manage.sql and sql/91_ops_actions.sql, so the rules of a retry or
a pause stay in SQL. JSON is turned into indented text by the database
(jsonb_pretty): the page shows it as the database holds it, whatever
json_loads the connector was given.
"""

from __future__ import annotations

from typing import Any

from procrastinate import connector as connector_module

Connector = connector_module.BaseAsyncConnector
Row = dict[str, Any]

#: Jobs on one page of the jobs list (the SQL function allows up to 500).
PAGE_SIZE = 50
STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")

QUEUES = """
select
    s.queue_name, s.todo, s.doing, coalesce(b.scheduled, 0) as scheduled, s.failed,
    s.succeeded, s.paused,
    extract(epoch from s.oldest_waiting_age)::double precision as oldest_waiting_seconds
from procrastinate_queue_stats as s
left join procrastinate_queue_backlog as b on b.queue_name = s.queue_name
order by s.queue_name
"""

JOBS = """
select j.*
from procrastinate_dashboard_jobs_v1(
    p_queue => %(queue)s::text, p_task => %(task)s::text, p_status => %(status)s::text,
    p_lock => %(lock)s::text, p_worker_id => %(worker_id)s::bigint,
    p_before_id => %(before_id)s::bigint, p_limit => %(limit)s::integer
) as j
"""

JOB = """
select
    j.id, j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock,
    jsonb_pretty(j.args) as args, j.status::text as status, j.scheduled_at, j.attempts,
    j.max_attempts, j.abort_requested, j.worker_id, j.worker_name, j.created_at,
    j.started_at, j.finished_at, j.last_error, j.last_error_types, j.last_error_traceback,
    j.rescue_count, j.store_result, jsonb_pretty(j.result) as result, j.result_error,
    j.parents, j.events::text as events
from procrastinate_dashboard_job_v1(%(job_id)s::bigint) as j
"""

FAILURE_GROUPS = """
select g.* from procrastinate_failure_groups_v1() as g
"""

WORKERS = """
select w.* from procrastinate_worker_stats as w order by w.alive desc, w.id desc
"""

LOCKS = """
select l.* from procrastinate_lock_stats as l order by l.lock
"""

RETRY_JOB = "select procrastinate_retry_job(%(job_id)s::bigint)::text as status"
CANCEL_JOB = """
select procrastinate_cancel_job(%(job_id)s::bigint, abort => %(abort)s::boolean) as done
"""
PAUSE_QUEUE = "select procrastinate_pause_queue(%(queue)s::text) as done"
RESUME_QUEUE = "select procrastinate_resume_queue(%(queue)s::text) as done"
RETRY_FAILURE_GROUP = """
select procrastinate_retry_failure_group_v1(%(task)s::text, %(error_type)s::text) as jobs
"""


async def queues(connector: Connector) -> list[Row]:
    return await connector.execute_query_all_async(QUEUES)


async def jobs(
    connector: Connector,
    *,
    queue: str | None = None,
    task: str | None = None,
    status: str | None = None,
    lock: str | None = None,
    worker_id: int | None = None,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> list[Row]:
    return await connector.execute_query_all_async(
        JOBS, queue=queue, task=task, status=status, lock=lock, worker_id=worker_id,
        before_id=before_id, limit=limit,
    )


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
