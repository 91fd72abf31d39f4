-- max_runs beside max_attempts for callers from other languages (issue 20):
-- River, Oban and graphile-worker count every run, procrastinate the retries
-- after the first, so a Go or Node caller passing max_attempts => 2 got three
-- runs. procrastinate_defer_job and the job objects of
-- procrastinate_defer_jobs take max_runs (not both): n runs are stored as
-- n - 1 retries, one run as a policy no failure matches (so that no policy
-- the worker knows for the task applies), which the rescue honours too.
-- procrastinate_defer_job gains a last parameter: dropped and created again
-- (every call that worked still works), with its grant where
-- sql/optional/roles.sql is in use.
-- A post migration: the code does not send max_runs, and a pre after the
-- post migrations 0020-0031 would block the procrastinate 3.x conversion.
-- Replacing functions takes no lock on the queue's tables; the timeouts
-- bound the wait on the catalog should anything hold it.
-- The drop is of a function no table or view depends on, in the same
-- transaction as its new definition: callers see one or the other.
-- squawk-ignore-file ban-drop-function
set local lock_timeout = '10s';
set local statement_timeout = '30s';

-- The first job object of p_jobs with a problem of shape or type (any key but
-- the retry policy), or whose args are over the limits of
-- procrastinate_settings (size in bytes, depth of nesting).
create or replace function _procrastinate_job_problem(p_jobs jsonb)
returns table (ord bigint, message text)
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_known_keys text[] := array[
        'task_name', 'args', 'queue_name', 'priority', 'lock', 'queueing_lock',
        'scheduled_at', 'scheduled_in', 'max_attempts', 'max_runs', 'retry_wait',
        'retry_linear_wait', 'retry_exponential_wait', 'retry_exceptions'
    ];
begin
    return query
    select t.ord, p.message
    from procrastinate_settings as s
    cross join jsonb_array_elements(p_jobs) with ordinality as t (job, ord)
    cross join lateral (
        select case
            when jsonb_typeof(t.job) <> 'object'
                then 'is not a JSON object'
            -- removing the known keys must leave nothing
            when t.job - v_known_keys <> '{}'::jsonb
                then 'has unknown keys: ' || (
                    select string_agg(k.key, ', ' order by k.key)
                    from jsonb_object_keys(t.job - v_known_keys) as k (key)
                )
            when jsonb_typeof(t.job -> 'task_name') is distinct from 'string'
                or t.job ->> 'task_name' = ''
                then 'needs a task_name, a non-empty string'
            when jsonb_typeof(t.job -> 'args') not in ('object', 'null')
                then 'has args that are not a JSON object (got '
                    || jsonb_typeof(t.job -> 'args') || ')'
            when pg_column_size(t.job -> 'args') > s.max_args_bytes
                then format(
                    'has args of %s bytes, over the limit of %s (procrastinate_settings.max_args_bytes)',
                    pg_column_size(t.job -> 'args'), s.max_args_bytes
                )
            -- nesting deeper than n needs at least 2n bytes: skip the walk for small args
            when pg_column_size(t.job -> 'args') > 2 * s.max_args_depth
                and jsonb_path_exists(
                    t.job -> 'args', format('strict $.**{%s}', s.max_args_depth)::jsonpath
                )
                then format(
                    'has args nested %s levels deep or more (procrastinate_settings.max_args_depth)',
                    s.max_args_depth
                )
            when jsonb_typeof(t.job -> 'queue_name') not in ('string', 'null')
                or t.job ->> 'queue_name' = ''
                then 'has a queue_name that is not a non-empty string'
            when jsonb_typeof(t.job -> 'priority') not in ('number', 'null')
                or (t.job ->> 'priority') !~ '^-?[0-9]{1,9}$'
                then 'has a priority that is not an integer'
            when jsonb_typeof(t.job -> 'lock') not in ('string', 'null')
                then 'has a lock that is not a string'
            when jsonb_typeof(t.job -> 'queueing_lock') not in ('string', 'null')
                then 'has a queueing_lock that is not a string'
            when jsonb_typeof(t.job -> 'scheduled_at') not in ('string', 'null')
                then 'has a scheduled_at that is not a timestamp string'
            when jsonb_typeof(t.job -> 'scheduled_in') not in ('number', 'null')
                or (t.job ->> 'scheduled_in')::numeric not between 0 and 1e10
                then 'has a scheduled_in that is not a number of seconds from 0 to 1e10'
            when t.job ? 'scheduled_at' and t.job ? 'scheduled_in'
                and t.job -> 'scheduled_at' <> 'null' and t.job -> 'scheduled_in' <> 'null'
                then 'has both scheduled_at and scheduled_in'
        end as message
    ) as p
    where p.message is not null
    order by t.ord
    limit 1;
end;
$$;

-- The first object of p_items whose retry policy (max_attempts or max_runs,
-- the waits, retry_exceptions) is invalid: job objects, or the policies
-- workers send.
create or replace function _procrastinate_policy_problem(p_items jsonb)
returns table (ord bigint, message text)
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
as $$
begin
    return query
    select t.ord, p.message
    from jsonb_array_elements(p_items) with ordinality as t (item, ord)
    cross join lateral (
        select case
            when jsonb_typeof(t.item -> 'max_attempts') not in ('number', 'null')
                or (t.item ->> 'max_attempts') !~ '^-?[0-9]{1,9}$'
                then 'has a max_attempts that is not an integer'
            when (t.item ->> 'max_attempts')::integer < 0
                then 'has a negative max_attempts ('
                    || (t.item ->> 'max_attempts') || '); use 0 for no limit'
            when jsonb_typeof(t.item -> 'max_runs') not in ('number', 'null')
                or (t.item ->> 'max_runs') !~ '^-?[0-9]{1,9}$'
                then 'has a max_runs that is not an integer'
            when (t.item ->> 'max_runs')::integer < 0
                then 'has a negative max_runs ('
                    || (t.item ->> 'max_runs') || '); use 0 for no limit'
            when t.item -> 'max_attempts' <> 'null' and t.item -> 'max_runs' <> 'null'
                then 'has both max_attempts and max_runs (retries after the first run, '
                    || 'or runs in all: give one)'
            -- a wait is null, or a number of seconds from 0 to 1e9; one key at
            -- a time (walking the object with jsonb_each was 40% of a defer),
            -- the type first, so that the cast only meets numbers
            when jsonb_typeof(t.item -> 'retry_wait') not in ('number', 'null')
                or jsonb_typeof(t.item -> 'retry_linear_wait') not in ('number', 'null')
                or jsonb_typeof(t.item -> 'retry_exponential_wait') not in ('number', 'null')
                then 'has a retry wait that is not a number of seconds from 0 to 1e9'
            when (t.item ->> 'retry_wait')::numeric not between 0 and 1e9
                or (t.item ->> 'retry_linear_wait')::numeric not between 0 and 1e9
                or (t.item ->> 'retry_exponential_wait')::numeric not between 0 and 1e9
                then 'has a retry wait that is not a number of seconds from 0 to 1e9'
            -- silent: a retry_exceptions that is not an array is caught just above
            when jsonb_typeof(t.item -> 'retry_exceptions') not in ('array', 'null')
                or jsonb_path_exists(
                    t.item, 'strict $.retry_exceptions[*] ? (@.type() != "string")', '{}', true
                )
                then 'has retry_exceptions that are not an array of class names'
        end as message
    ) as p
    where p.message is not null
    order by t.ord
    limit 1;
end;
$$;

-- Raises PT001 naming the first invalid job object of a JSON array, PT002 for
-- a queueing lock that is taken. Called by procrastinate_defer_jobs_v2.
create or replace function _procrastinate_validate_jobs(p_jobs jsonb)
returns void
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_ord bigint;
    v_message text;
begin
    if p_jobs is null or jsonb_typeof(p_jobs) <> 'array' then
        raise exception 'jobs must be a JSON array of job objects, got %',
            coalesce(jsonb_typeof(p_jobs), 'null')
            using errcode = 'PT001';
    end if;

    select p.ord, p.message into v_ord, v_message from _procrastinate_job_problem(p_jobs) as p;
    if v_message is null and jsonb_path_exists(
        p_jobs, 'lax $[*] ? (exists(@.max_attempts) || exists(@.max_runs) || exists(@.retry_wait)
            || exists(@.retry_linear_wait) || exists(@.retry_exponential_wait)
            || exists(@.retry_exceptions))'
    ) then
        select p.ord, p.message into v_ord, v_message
        from _procrastinate_policy_problem(p_jobs) as p;
    end if;
    if v_message is not null then
        raise exception 'job #% of % is invalid: it %', v_ord, jsonb_array_length(p_jobs), v_message
            using errcode = 'PT001',
                hint = 'A job object is {"task_name": ..., "args": {...}, "queue_name": ..., ...}';
    end if;

    if jsonb_path_exists(p_jobs, 'lax $[*].queueing_lock ? (@.type() == "string")') then
        v_message := _procrastinate_queueing_lock_problem(p_jobs);
        if v_message is not null then
            raise exception '%', v_message
                using errcode = 'PT002',
                    hint = 'Only one job per queueing lock may wait in todo.';
        end if;
    end if;
end;
$$;

-- Inserts a JSON array of already validated job objects at p_now and returns
-- their ids in input order. Called by procrastinate_defer_jobs_v2 only.
-- PL/pgSQL rather than SQL: PL/pgSQL keeps its plans, a SQL function plans
-- every call.
create or replace function _procrastinate_insert_jobs(p_jobs jsonb, p_now timestamptz)
returns table (id bigint)
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
    return query
    with input as materialized (
        select
            t.ord,
            t.job,
            nextval('procrastinate_jobs_id_seq'::regclass) as new_id
        from jsonb_array_elements(p_jobs) with ordinality as t (job, ord)
    ),

    inserted as (
        insert into procrastinate_jobs (
            id, queue_name, task_name, priority, lock, queueing_lock, args,
            scheduled_at, max_attempts, retry_wait, retry_linear_wait,
            retry_exponential_wait, retry_exceptions, created_at, deferred_by
        )
        select
            input.new_id,
            coalesce(input.job ->> 'queue_name', 'default'),
            input.job ->> 'task_name',
            coalesce((input.job ->> 'priority')::integer, 0),
            input.job ->> 'lock',
            input.job ->> 'queueing_lock',
            coalesce(nullif(input.job -> 'args', 'null'::jsonb), '{}'::jsonb),
            coalesce(
                (input.job ->> 'scheduled_at')::timestamptz,
                -- relative times are added to the database's clock, not the caller's
                p_now + make_interval(secs => (input.job ->> 'scheduled_in')::double precision)
            ),
            -- max_runs counts every run (River, Oban, graphile-worker),
            -- max_attempts the retries after the first (procrastinate): n runs
            -- are n - 1 retries, 0 is no limit either way
            case
                when input.job ->> 'max_runs' is null
                    then (input.job ->> 'max_attempts')::integer
                when (input.job ->> 'max_runs')::integer > 1
                    then (input.job ->> 'max_runs')::integer - 1
                -- 0 (no limit), or 1 with the never-matching exception list below
                else (input.job ->> 'max_runs')::integer
            end,
            coalesce((input.job ->> 'retry_wait')::double precision, 0),
            coalesce((input.job ->> 'retry_linear_wait')::double precision, 0),
            coalesce((input.job ->> 'retry_exponential_wait')::double precision, 0),
            case
                -- one run: a policy of its own that no failure matches, so
                -- that no policy a worker knows for the task applies either
                when (input.job ->> 'max_runs')::integer = 1
                    then array['(max_runs 1: never retried)']
                -- an empty list means any exception, as in procrastinate
                when jsonb_typeof(input.job -> 'retry_exceptions') = 'array'
                    then nullif(array(
                        select jsonb_array_elements_text(input.job -> 'retry_exceptions')
                    ), '{}')
            end,
            p_now,
            session_user
        from input
        order by input.ord
        returning 1
    )

    select input.new_id from input order by input.ord;
end;
$$;

-- Takes jobs back from the worker that held them, their run counted as an
-- attempt and a rescue: back to todo unless this is their max_rescues-th
-- rescue or their retry policy is exhausted (then they end failed: a lost
-- run counts, and a job deferred with max_runs 1 has had its run), or their
-- abort was requested (aborted). A job with no retry policy is requeued too:
-- losing its run is not the job's failure. p_why completes "worker N ..." in
-- last_error. The caller has locked the rows; jobs no longer in doing are
-- left alone. Returns the jobs taken back and their new status.
create or replace function _procrastinate_take_back_jobs(
    p_job_ids bigint[],
    p_now timestamptz,
    p_why text,
    p_error_type text
)
returns table (job_id bigint, status procrastinate_job_status)
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    with settings as (
        select s.max_rescues from procrastinate_settings as s
    ),

    taken as (
        update procrastinate_jobs as j
        set
            status = case
                when j.abort_requested then 'aborted'
                when
                    j.rescue_count + 1 >= s.max_rescues
                    or (j.max_attempts > 0 and j.attempts + 1 > j.max_attempts)
                    or j.retry_exceptions = array['(max_runs 1: never retried)']
                    then 'failed'
                else 'todo'
            end::procrastinate_job_status,
            attempts = j.attempts + 1,
            rescue_count = j.rescue_count + 1,
            worker_id = null,
            claim_token = null,
            abort_requested = false,
            finished_at = case
                when j.abort_requested or j.rescue_count + 1 >= s.max_rescues then p_now
                when j.max_attempts > 0 and j.attempts + 1 > j.max_attempts then p_now
                when j.retry_exceptions = array['(max_runs 1: never retried)'] then p_now
            end,
            last_error = format(
                'worker %s %s (rescue %s of at most %s)',
                j.worker_id, p_why, j.rescue_count + 1, s.max_rescues
            ),
            last_error_types = array[p_error_type]
        from settings as s
        where j.id = any(p_job_ids) and j.status = 'doing'
        returning j.id, j.status
    )

    select t.id, t.status from taken as t
    order by t.id;
$$;

drop function procrastinate_defer_job(
    text, jsonb, text, integer, text, text, timestamptz, integer,
    double precision, double precision, double precision, text[]
);

-- User-facing single defer, for psql, triggers and other languages.
create function procrastinate_defer_job(
    task_name text,
    args jsonb default '{}',
    queue_name text default 'default',
    priority integer default 0,
    lock text default null,
    queueing_lock text default null,
    scheduled_at timestamptz default null,
    max_attempts integer default null,
    retry_wait double precision default 0,
    retry_linear_wait double precision default 0,
    retry_exponential_wait double precision default 0,
    retry_exceptions text[] default null,
    max_runs integer default null
)
returns bigint
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
    -- built apart from the call: an error's CONTEXT quotes the statement
    -- that called procrastinate_defer_jobs_v2, and this keeps it one line
    v_jobs jsonb := jsonb_build_array(jsonb_build_object(
        'task_name', task_name,
        'args', coalesce(args, '{}'::jsonb),
        'queue_name', queue_name,
        'priority', priority,
        'lock', lock,
        'queueing_lock', queueing_lock,
        'scheduled_at', scheduled_at,
        'max_attempts', max_attempts,
        'retry_wait', retry_wait,
        'retry_linear_wait', retry_linear_wait,
        'retry_exponential_wait', retry_exponential_wait,
        'retry_exceptions', to_jsonb(retry_exceptions),
        'max_runs', max_runs
    ));
begin
    return (select d.id from procrastinate_defer_jobs_v2(v_jobs) as d);
end;
$$;

comment on function procrastinate_defer_job(
    text, jsonb, text, integer, text, text, timestamptz, integer,
    double precision, double precision, double precision, text[], integer
) is
'Defer one job and return its id. Only task_name is required:
  select procrastinate_defer_job(''sum_task'', ''{"a": 3, "b": 5}'');
  select procrastinate_defer_job(task_name => ''mail'', queue_name => ''emails'', priority => 5);
args: JSON object of keyword arguments. priority: higher runs first. lock: jobs sharing a lock
run one at a time, in priority then id order. queueing_lock: at most one waiting job per value
(SQLSTATE PT002 otherwise). scheduled_at: not before this time. Retries: max_attempts null
never retries (unless the worker knows a policy for the task), 0 retries without limit, n
retries while fewer than n attempts ended (n + 1 runs, procrastinate''s meaning); or max_runs,
the runs in all (River''s, Oban''s, graphile-worker''s meaning): 1 runs once whatever the task''s
policy, n runs at most n times, 0 without limit; not both. The delay is retry_wait +
retry_linear_wait * attempts + retry_exponential_wait ^ (attempts + 1) seconds;
retry_exceptions limits retries to failures of these class names. Bad input: SQLSTATE PT001.';

do $$
begin
    if to_regrole('procrastinate_producer') is null then
        return;
    end if;
    revoke execute on function procrastinate_defer_job(
        text, jsonb, text, integer, text, text, timestamptz, integer,
        double precision, double precision, double precision, text[], integer
    ) from public;
    grant execute on function procrastinate_defer_job(
        text, jsonb, text, integer, text, text, timestamptz, integer,
        double precision, double precision, double precision, text[], integer
    ) to procrastinate_producer;
end;
$$;
