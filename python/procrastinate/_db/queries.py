"""Every SQL text the driver sends at run time, one named constant each
(the schema lifecycle's are in schema_queries).

Each query calls a function of the SQL core (sql/, documented in
docs/sql-api.md) or is a plain read. Parameters are psycopg placeholders
(``%(name)s``), cast to the function's types so that a null is never
ambiguous. Nothing here changes data except through a function.
"""

from __future__ import annotations

# --- jobs: defer, fetch, finish ------------------------------------------

DEFER_JOBS = """
select d.id from procrastinate_defer_jobs_v2(%(jobs)s::jsonb) as d
"""

DEFER_PERIODIC_JOB = """
select procrastinate_defer_periodic_job_v1(
    %(task_name)s::text, %(periodic_id)s::text, %(defer_timestamp)s::bigint,
    %(job)s::jsonb
) as id
"""

LAST_PERIODIC_TICKS = """
select t.task_name, t.periodic_id, t.defer_timestamp
from procrastinate_last_periodic_ticks_v1() as t
"""

# args as text: the driver decodes each job's args itself, so that args one
# job's decoder refuses fail that job only (_db.wire.decode_fetched_args);
# headers as text too, decoded with json (not the connector's json_loads:
# they are the driver's, never the user's).

#: The claim the worker calls: it tells how many of the jobs it starts at
#: once (its free slots; the others wait in its prefetch buffer), so that a
#: job under a concurrency limit is claimed only for a free slot.
FETCH_JOBS = """
select f.id, f.queue_name, f.task_name, f.priority, f.lock, f.queueing_lock,
    f.args::text as args, f.status, f.scheduled_at, f.attempts,
    f.abort_requested, f.worker_id, f.store_result, f.parents, f.headers::text as headers,
    f.waited, f.timeout
from procrastinate_fetch_jobs_v5(
    %(worker_id)s::bigint, %(queues)s::text[], %(limit)s::integer,
    %(claim_token)s::uuid, %(resume)s::boolean, null::timestamptz, %(slots)s::integer
) as f
"""

#: The claim of a schema whose post migration 0043 is pending (this code
#: deployed between the two phases): no timeouts stored yet (the worker
#: applies its tasks' own, without a deadline in the database).
FETCH_JOBS_BEFORE_TIMEOUTS = """
select f.id, f.queue_name, f.task_name, f.priority, f.lock, f.queueing_lock,
    f.args::text as args, f.status, f.scheduled_at, f.attempts,
    f.abort_requested, f.worker_id, f.store_result, f.parents, f.headers::text as headers,
    f.waited
from procrastinate_fetch_jobs_v4(
    %(worker_id)s::bigint, %(queues)s::text[], %(limit)s::integer,
    %(claim_token)s::uuid, %(resume)s::boolean, null::timestamptz, %(slots)s::integer
) as f
"""

#: The claim of a schema whose post migration 0041 is pending (this code
#: deployed between the two phases): no concurrency limits yet, so no slots
#: to tell.
FETCH_JOBS_BEFORE_LIMITS = """
select f.id, f.queue_name, f.task_name, f.priority, f.lock, f.queueing_lock,
    f.args::text as args, f.status, f.scheduled_at, f.attempts,
    f.abort_requested, f.worker_id, f.store_result, f.parents, f.headers::text as headers,
    f.waited
from procrastinate_fetch_jobs_v4(
    %(worker_id)s::bigint, %(queues)s::text[], %(limit)s::integer,
    %(claim_token)s::uuid, %(resume)s::boolean
) as f
"""

#: The claim of a schema whose post migration 0040 is pending: no headers,
#: no wait measured yet.
FETCH_JOBS_BEFORE_HEADERS = """
select f.id, f.queue_name, f.task_name, f.priority, f.lock, f.queueing_lock,
    f.args::text as args, f.status, f.scheduled_at, f.attempts,
    f.abort_requested, f.worker_id, f.store_result, f.parents
from procrastinate_fetch_jobs_v3(
    %(worker_id)s::bigint, %(queues)s::text[], %(limit)s::integer,
    %(claim_token)s::uuid, %(resume)s::boolean
) as f
"""

#: The claim of a schema whose post migration 0037 is pending (this code
#: deployed three releases after it): no stored results, no parents yet.
FETCH_JOBS_BEFORE_RESULTS = """
select f.id, f.queue_name, f.task_name, f.priority, f.lock, f.queueing_lock,
    f.args::text as args, f.status, f.scheduled_at, f.attempts,
    f.abort_requested, f.worker_id
from procrastinate_fetch_jobs_v2(
    %(worker_id)s::bigint, %(queues)s::text[], %(limit)s::integer,
    %(claim_token)s::uuid, %(resume)s::boolean
) as f
"""

FINISH_JOBS = """
select r.job_id, r.accepted, r.status::text as status, r.scheduled_at, r.reason
from procrastinate_finish_jobs_v1(
    %(worker_id)s::bigint, %(outcomes)s::jsonb, %(delete_jobs)s::text
) as r
"""

# --- managing single jobs --------------------------------------------------
# Every argument is given: while a procrastinate 3.x database is converted, 3.x's
# procrastinate_cancel_job_v1 and procrastinate_retry_job_v1 (fewer arguments)
# exist beside ours.

CANCEL_JOB = """
select procrastinate_cancel_job_v1(
    %(job_id)s::bigint, %(abort)s::boolean, %(delete_job)s::boolean, null::timestamptz
) as cancelled
"""

RETRY_JOB = """
select procrastinate_retry_job_v1(
    %(job_id)s::bigint, %(retry_at)s::timestamptz, %(priority)s::integer,
    %(queue)s::text, %(lock)s::text, null::timestamptz
)::text as status
"""

GET_JOB_STATUS = """
select procrastinate_get_job_status_v1(%(job_id)s::bigint)::text as status
"""

#: How jobs stand: status, and for ended ones their result or error
#: (procrastinate_job_results_v1; waiting.py).
JOB_RESULTS = """
select r.job_id, r.status::text as status, r.attempts, r.finished_at, r.store_result,
    r.result, r.result_error, r.error_message, r.error_types, r.error_traceback
from procrastinate_job_results_v1(%(job_ids)s::bigint[]) as r
"""

REMOVE_OLD_JOBS = """
select procrastinate_remove_old_jobs_v1(
    %(max_hours)s::double precision, %(queue)s::text, %(statuses)s::text[],
    %(max_jobs)s::integer
) as removed
"""

# --- queues ------------------------------------------------------------------

PAUSE_QUEUE = """
select procrastinate_pause_queue_v1(%(queue)s::text) as changed
"""

RESUME_QUEUE = """
select procrastinate_resume_queue_v1(%(queue)s::text) as changed
"""

# --- concurrency limits (docs/flow-control.md) ------------------------------------

LIST_LIMITS = """
select l.scope, l.name, l.concurrency, l.in_use, l.waiting, l.held_back,
    l.rate, extract(epoch from l.per)::double precision as per, l.tokens
from procrastinate_limit_stats as l
order by l.scope, l.name
"""

SET_LIMIT = """
select procrastinate_set_limit(
    queue_name => %(queue)s::text, task_name => %(task)s::text,
    limit_key => %(limit_key)s::text, concurrency => %(concurrency)s::integer,
    rate => %(rate)s::integer, per => make_interval(secs => %(per)s::double precision)
)
"""

REMOVE_LIMIT = """
select procrastinate_remove_limit(
    queue_name => %(queue)s::text, task_name => %(task)s::text,
    limit_key => %(limit_key)s::text
)
"""

PAUSED_QUEUES = """
select p.queue_name from procrastinate_paused_queues as p order by p.queue_name
"""

#: Per queue, what procrastinate.metrics serves as gauges: the ops view
#: that reads waiting and running jobs only (sql/90_ops_views.sql). The
#: owner and the operator role may read it (sql/optional/roles.sql).
QUEUE_BACKLOG = """
select b.queue_name, b.runnable, b.scheduled, b.doing, b.paused,
    extract(epoch from b.oldest_waiting_age)::double precision as oldest_waiting_seconds
from procrastinate_queue_backlog as b
order by b.queue_name
"""

# --- workers -----------------------------------------------------------------

#: The concurrency limits written in the code (tasks' concurrency_limit, the
#: App's queue_limits), set by a worker when it starts: the call of a
#: database without rate limits (post migration 0044 pending).
REGISTER_LIMITS = """
select procrastinate_register_limits_v1(%(limits)s::jsonb)
"""

#: The limits written in the code, rates included (tasks' concurrency_limit
#: and rate_limit, the App's queue_limits), set by a worker when it starts.
REGISTER_LIMITS_V2 = """
select procrastinate_register_limits_v2(%(limits)s::jsonb)
"""

#: After a claim that came back short: whether rate limits exist, and the
#: seconds until an empty bucket of the served queues has a token again.
LIMIT_WAIT = """
select w.has_rate_limits, w.seconds
from procrastinate_limit_wait_v1(%(queues)s::text[]) as w
"""

REGISTER_WORKER = """
select procrastinate_register_worker_v2(
    %(name)s::text, %(queues)s::text[], %(concurrency)s::integer, %(host)s::text,
    %(pid)s::integer, %(stalled_after)s::double precision
) as worker_id
"""

# The heartbeat thread's own connection gets the worker's deadline on each
# statement (worker/heartbeat.py).
SET_STATEMENT_TIMEOUT = """
select set_config('statement_timeout', %(milliseconds)s::text, false)
"""

HEARTBEAT = """
select procrastinate_heartbeat_v2(%(worker_id)s::bigint) as lease
"""

UNREGISTER_WORKER = """
select procrastinate_unregister_worker_v2(%(worker_id)s::bigint) as released
"""

RELEASE_JOBS = """
select t.id from procrastinate_release_jobs_v2(
    %(worker_id)s::bigint, %(job_ids)s::bigint[]
) as t (id)
"""

JOBS_TO_ABORT = """
select t.id from procrastinate_jobs_to_abort_v1(%(worker_id)s::bigint) as t (id)
"""

RECONCILE_HELD_JOBS = """
select r.job_id, r.worker_knew, r.status::text as status
from procrastinate_reconcile_held_jobs_v1(%(worker_id)s::bigint, %(held)s::bigint[]) as r
"""

RESCUE_STALLED_JOBS = """
select r.job_id, r.status::text as status
from procrastinate_rescue_stalled_jobs_v2(%(worker_id)s::bigint) as r
"""

# --- reads (the roles have no right on the tables: functions read for them) ---

_JOB_COLUMNS = """
    j.id, j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock, j.args,
    j.status::text as status, j.scheduled_at, j.attempts, j.abort_requested,
    j.worker_id
"""

LIST_JOBS = f"""
select {_JOB_COLUMNS}
from procrastinate_list_jobs_v1(
    p_id => %(id)s::bigint, p_queue => %(queue)s::text, p_task => %(task)s::text,
    p_status => %(status)s::text, p_lock => %(lock)s::text,
    p_queueing_lock => %(queueing_lock)s::text, p_worker_id => %(worker_id)s::bigint
) as j
"""

# Running jobs whose worker is gone or silent for more than silent_for seconds.
STALLED_JOBS = f"""
select {_JOB_COLUMNS}
from procrastinate_list_jobs_v1(
    p_queue => %(queue)s::text, p_task => %(task)s::text,
    p_silent_for => %(silent_for)s::double precision
) as j
"""

# Deprecated form of get_stalled_jobs: running for longer than nb_seconds.
JOBS_RUNNING_SINCE = f"""
select {_JOB_COLUMNS}
from procrastinate_list_jobs_v1(
    p_queue => %(queue)s::text, p_task => %(task)s::text,
    p_running_for => %(nb_seconds)s::double precision
) as j
"""

LIST_JOBS_TO_ABORT = """
select j.id
from procrastinate_list_jobs_v1(
    p_queue => %(queue)s::text, p_status => 'doing', p_abort_requested => true
) as j
"""

# Jobs per status of each queue / task / lock, with the filters of the shell.
_COUNTS_BY = """
select c.*
from procrastinate_job_counts_v1(
    '{key}', %(queue)s::text, %(task)s::text, %(status)s::text, %(lock)s::text
) as c
"""

LIST_QUEUES = _COUNTS_BY.format(key="queue")
LIST_TASKS = _COUNTS_BY.format(key="task")
LIST_LOCKS = _COUNTS_BY.format(key="lock")

# --- connection (App.check_connection) ----------------------------------------

CHECK_CONNECTION = """
select to_regclass('procrastinate_jobs') is not null as installed
"""

# --- procrastinate.testing: what run_deferred_jobs reads -----------------------------

#: Jobs waiting before the run.
WAITING_JOBS = """
select id from procrastinate_jobs where status = 'todo' order by id
"""

#: What became of the jobs of a run.
JOBS_AFTER_RUN = """
select j.id, j.task_name, j.status::text as status, j.attempts, j.args, j.last_error
from procrastinate_jobs as j
where j.id = any(%(ids)s::bigint[])
order by j.id
"""

#: testing.InMemoryConnector's views of its database (procrastinate 3.x's row shapes).
TESTING_JOBS = """
select
    j.id, j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock, j.args,
    j.status::text as status, j.scheduled_at, j.attempts, j.abort_requested, j.worker_id
from procrastinate_jobs as j
order by j.id
"""

TESTING_EVENTS = """
select e.id, e.job_id, e.type::text as type, e.at
from procrastinate_events as e
order by e.id
"""

TESTING_WORKERS = """
select w.id, w.last_heartbeat from procrastinate_workers as w order by w.id
"""

TESTING_RESET = """
truncate procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,
    procrastinate_workers, procrastinate_paused_queues restart identity
"""

# --- notifications ---------------------------------------------------------------

#: The one channel of the SQL core (sql/80_notify.sql).
CHANNEL = "procrastinate"
#: Composed by each connector with its driver's identifier quoting.
LISTEN = "listen {channel}"

#: Liveness check of a quiet listening connection.
KEEPALIVE = "select 1"

# Transaction delimiters, for drivers whose connections are always in
# autocommit mode (aiopg).
BEGIN = "begin"
COMMIT = "commit"
ROLLBACK = "rollback"

# --- retries ------------------------------------------------------------------------

#: Queries that only read (or whose repetition changes nothing): run once more
#: on a fresh connection when their pooled connection turns out to be dead.
#: Never defer (not idempotent), fetch (claims jobs) or finish (fenced: a
#: second report of an outcome is refused, and would be logged as lost).
RETRYABLE = frozenset(
    {
        LAST_PERIODIC_TICKS,
        GET_JOB_STATUS,
        JOB_RESULTS,
        HEARTBEAT,
        JOBS_TO_ABORT,
        LIST_JOBS,
        STALLED_JOBS,
        JOBS_RUNNING_SINCE,
        LIST_JOBS_TO_ABORT,
        LIST_QUEUES,
        PAUSED_QUEUES,
        LIST_LIMITS,
        LIST_TASKS,
        LIST_LOCKS,
        CHECK_CONNECTION,
        KEEPALIVE,
    }
)
