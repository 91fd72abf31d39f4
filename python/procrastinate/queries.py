"""Every SQL text the driver sends, one named constant each.

Each query calls a function of the SQL core (sql/, documented in
docs/sql-api.md) or is a plain read. Parameters are psycopg placeholders
(``%(name)s``), cast to the function's types so that a null is never
ambiguous. Nothing here changes data except through a function.
"""

from __future__ import annotations

# --- jobs: defer, fetch, finish ------------------------------------------

DEFER_JOBS = """
select d.id from procrastinate_defer_jobs_v1(%(jobs)s::jsonb) as d
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

FETCH_JOBS = """
select f.* from procrastinate_fetch_jobs_v1(
    %(worker_id)s::bigint, %(queues)s::text[], %(limit)s::integer
) as f
"""

FINISH_JOBS = """
select r.job_id, r.accepted, r.status::text as status, r.scheduled_at, r.reason
from procrastinate_finish_jobs_v1(
    %(worker_id)s::bigint, %(outcomes)s::jsonb, %(delete_jobs)s::text
) as r
"""

# --- managing single jobs --------------------------------------------------

CANCEL_JOB = """
select procrastinate_cancel_job(
    %(job_id)s::bigint, %(abort)s::boolean, %(delete_job)s::boolean
) as cancelled
"""

RETRY_JOB = """
select procrastinate_retry_job(
    %(job_id)s::bigint, %(retry_at)s::timestamptz, %(priority)s::integer,
    %(queue)s::text, %(lock)s::text
)::text as status
"""

GET_JOB_STATUS = """
select procrastinate_get_job_status(%(job_id)s::bigint)::text as status
"""

REMOVE_OLD_JOBS = """
select procrastinate_remove_old_jobs(
    %(max_hours)s::double precision, %(queue)s::text, %(statuses)s::text[],
    %(max_jobs)s::integer
) as removed
"""

# --- queues ------------------------------------------------------------------

PAUSE_QUEUE = """
select procrastinate_pause_queue(%(queue)s::text) as changed
"""

RESUME_QUEUE = """
select procrastinate_resume_queue(%(queue)s::text) as changed
"""

# --- workers -----------------------------------------------------------------

REGISTER_WORKER = """
select procrastinate_register_worker_v1(
    %(name)s::text, %(queues)s::text[], %(concurrency)s::integer, %(host)s::text,
    %(pid)s::integer
) as worker_id
"""

HEARTBEAT = """
select procrastinate_heartbeat_v1(%(worker_id)s::bigint) as alive
"""

UNREGISTER_WORKER = """
select procrastinate_unregister_worker_v1(%(worker_id)s::bigint) as released
"""

RELEASE_JOBS = """
select t.id from procrastinate_release_jobs_v1(
    %(worker_id)s::bigint, %(job_ids)s::bigint[]
) as t (id)
"""

JOBS_TO_ABORT = """
select t.id from procrastinate_jobs_to_abort_v1(%(worker_id)s::bigint) as t (id)
"""

RESCUE_STALLED_JOBS = """
select r.job_id, r.status::text as status
from procrastinate_rescue_stalled_jobs_v1(
    %(stalled_after)s::double precision, %(max_rescues)s::integer
) as r
"""

# The procrastinate_stalled_jobs view reads its threshold from this setting;
# set for the current transaction only.
SET_STALLED_WORKER_TIMEOUT = """
select set_config('procrastinate.stalled_worker_timeout', %(seconds)s::text, true)
"""

# --- reads --------------------------------------------------------------------

_JOB_COLUMNS = """
    j.id, j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock, j.args,
    j.status::text as status, j.scheduled_at, j.attempts, j.abort_requested,
    j.worker_id
"""

LIST_JOBS = f"""
select {_JOB_COLUMNS}
from procrastinate_jobs as j
where
    (%(id)s::bigint is null or j.id = %(id)s::bigint)
    and (%(queue)s::text is null or j.queue_name = %(queue)s::text)
    and (%(task)s::text is null or j.task_name = %(task)s::text)
    and (%(status)s::text is null or j.status::text = %(status)s::text)
    and (%(lock)s::text is null or j.lock = %(lock)s::text)
    and (%(queueing_lock)s::text is null or j.queueing_lock = %(queueing_lock)s::text)
    and (%(worker_id)s::bigint is null or j.worker_id = %(worker_id)s::bigint)
order by j.id
"""

STALLED_JOBS = f"""
select {_JOB_COLUMNS}
from procrastinate_stalled_jobs as s
inner join procrastinate_jobs as j on j.id = s.id
where
    (%(queue)s::text is null or j.queue_name = %(queue)s::text)
    and (%(task)s::text is null or j.task_name = %(task)s::text)
order by j.id
"""

# Deprecated form of get_stalled_jobs: running for longer than nb_seconds.
JOBS_RUNNING_SINCE = f"""
select {_JOB_COLUMNS}
from procrastinate_jobs as j
where
    j.status = 'doing'
    and j.started_at < now() - make_interval(secs => %(nb_seconds)s::double precision)
    and (%(queue)s::text is null or j.queue_name = %(queue)s::text)
    and (%(task)s::text is null or j.task_name = %(task)s::text)
order by j.id
"""

LIST_JOBS_TO_ABORT = """
select j.id
from procrastinate_jobs as j
where
    j.status = 'doing'
    and j.abort_requested
    and (%(queue)s::text is null or j.queue_name = %(queue)s::text)
order by j.id
"""

# Jobs per status of each queue / task / lock, with the filters of the shell.
_COUNTS_BY = """
select
    {key} as name,
    count(*) as jobs_count,
    count(*) filter (where j.status = 'todo') as todo,
    count(*) filter (where j.status = 'doing') as doing,
    count(*) filter (where j.status = 'succeeded') as succeeded,
    count(*) filter (where j.status = 'failed') as failed,
    count(*) filter (where j.status = 'cancelled') as cancelled,
    count(*) filter (where j.status = 'aborted') as aborted
from procrastinate_jobs as j
where
    (%(queue)s::text is null or j.queue_name = %(queue)s::text)
    and (%(task)s::text is null or j.task_name = %(task)s::text)
    and (%(status)s::text is null or j.status::text = %(status)s::text)
    and (%(lock)s::text is null or j.lock = %(lock)s::text)
    {extra}
group by {key}
order by {key}
"""

LIST_QUEUES = _COUNTS_BY.format(key="j.queue_name", extra="")
LIST_TASKS = _COUNTS_BY.format(key="j.task_name", extra="")
LIST_LOCKS = _COUNTS_BY.format(key="j.lock", extra="and j.lock is not null")

# --- connection and schema ------------------------------------------------

CHECK_CONNECTION = """
select to_regclass('procrastinate_jobs') is not null as installed
"""

# Serialises schema installs of concurrent callers (inside one transaction).
SCHEMA_LOCK_KEY = 0x70726F63  # "proc"
LOCK_SCHEMA = "select pg_advisory_xact_lock(%(key)s::bigint)"

SCHEMA_INSTALLED = CHECK_CONNECTION

MISSING_FUNCTIONS = """
select s.signature
from unnest(%(signatures)s::text[]) with ordinality as s (signature, ord)
where to_regprocedure(s.signature) is null
order by s.ord
"""

#: The functions this driver calls, checked by ``check()`` on an installed schema.
REQUIRED_FUNCTIONS = (
    "procrastinate_defer_jobs_v1(jsonb)",
    "procrastinate_defer_periodic_job_v1(text, text, bigint, jsonb)",
    "procrastinate_last_periodic_ticks_v1()",
    "procrastinate_fetch_jobs_v1(bigint, text[], integer, timestamptz)",
    "procrastinate_finish_jobs_v1(bigint, jsonb, text, timestamptz)",
    "procrastinate_cancel_job(bigint, boolean, boolean)",
    "procrastinate_retry_job(bigint, timestamptz, integer, text, text)",
    "procrastinate_get_job_status(bigint)",
    "procrastinate_remove_old_jobs(double precision, text, text[], integer)",
    "procrastinate_pause_queue(text)",
    "procrastinate_resume_queue(text)",
    "procrastinate_register_worker_v1(text, text[], integer, text, integer, timestamptz)",
    "procrastinate_heartbeat_v1(bigint, timestamptz)",
    "procrastinate_unregister_worker_v1(bigint)",
    "procrastinate_release_jobs_v1(bigint, bigint[])",
    "procrastinate_jobs_to_abort_v1(bigint)",
    "procrastinate_rescue_stalled_jobs_v1(double precision, integer, timestamptz)",
)

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
        HEARTBEAT,
        JOBS_TO_ABORT,
        LIST_JOBS,
        STALLED_JOBS,
        JOBS_RUNNING_SINCE,
        LIST_JOBS_TO_ABORT,
        LIST_QUEUES,
        LIST_TASKS,
        LIST_LOCKS,
        CHECK_CONNECTION,
        MISSING_FUNCTIONS,
        KEEPALIVE,
    }
)
