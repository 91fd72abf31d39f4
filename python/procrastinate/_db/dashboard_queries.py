"""The SQL text of the web dashboard (procrastinate.dashboard.queries calls
these). Reads: the ops views (sql/90_ops_views.sql) and the dashboard's
functions (sql/92_dashboard.sql); actions: the user-facing functions of
sql/50_manage.sql and sql/91_ops_actions.sql, so the rules of a retry or a
pause stay in SQL. JSON is turned into indented text by the database
(jsonb_pretty): the page shows it as the database holds it, whatever
json_loads the connector was given."""

from __future__ import annotations

# The overview's and the queues page's counts of waiting and running jobs:
# the backlog view reads those only, never the finished ones (the jobs
# finished in the last hour and day come from THROUGHPUT).
QUEUES = """
select
    b.queue_name, b.todo, b.doing, b.scheduled, b.paused,
    extract(epoch from b.oldest_waiting_age)::double precision as oldest_waiting_seconds
from procrastinate_queue_backlog as b
order by b.queue_name
"""

THROUGHPUT = """
select
    t.queue_name, extract(epoch from t.bucket_start)::bigint as bucket_start, t.succeeded,
    t.failed
from procrastinate_dashboard_throughput_v1(
    p_since => %(since)s::interval, p_buckets => %(buckets)s::integer,
    p_now => %(now)s::timestamptz
) as t
"""

ID_BOUNDS = """
select b.first_id, b.last_id
from procrastinate_dashboard_id_bounds_v1(
    p_created_from => %(created_from)s::timestamptz, p_created_to => %(created_to)s::timestamptz
) as b
"""

PERIODIC_TICKS = """
select t.task_name, t.periodic_id, t.defer_timestamp
from procrastinate_last_periodic_ticks_v1() as t
order by t.task_name, t.periodic_id
"""

JOBS = """
select j.*
from procrastinate_dashboard_jobs_v2(
    p_queue => %(queue)s::text, p_task => %(task)s::text, p_status => %(status)s::text,
    p_lock => %(lock)s::text, p_worker_id => %(worker_id)s::bigint,
    p_before_id => %(before_id)s::bigint, p_limit => %(limit)s::integer,
    p_after_id => %(after_id)s::bigint, p_args => %(args)s::jsonb,
    p_created_from => %(created_from)s::timestamptz,
    p_created_to => %(created_to)s::timestamptz
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
select w.* from procrastinate_dashboard_workers_v1() as w
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
