"""The SQL text of the web dashboard (procrastinate.dashboard.queries calls
these). Reads: the ops views (sql/90_ops_views.sql) and the dashboard's
functions (sql/92_dashboard.sql); actions: the user-facing functions of
sql/50_manage.sql and sql/91_ops_actions.sql, so the rules of a retry or a
pause stay in SQL. JSON is turned into indented text by the database
(jsonb_pretty): the page shows it as the database holds it, whatever
json_loads the connector was given."""

from __future__ import annotations

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
