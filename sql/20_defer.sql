-- Deferring: the one insert path of the queue. Every way of creating jobs
-- (procrastinate_defer_job, procrastinate_defer_jobs, the Python driver)
-- goes through procrastinate_defer_jobs_v2, so validation lives in one place.
-- Validation is a few small checks, each returning the first problem of a
-- JSON array as (ord, message); the callers choose the SQLSTATE.

-- The first job object of p_jobs with a problem of shape or type (any key but
-- the retry policy), or whose args are over the limits of
-- procrastinate_settings (size in bytes, depth of nesting).
create function _procrastinate_job_problem(p_jobs jsonb)
returns table (ord bigint, message text)
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_known_keys text[] := array[
        'task_name', 'args', 'queue_name', 'priority', 'lock', 'queueing_lock',
        'scheduled_at', 'scheduled_in', 'max_attempts', 'max_runs', 'retry_wait',
        'retry_linear_wait', 'retry_exponential_wait', 'retry_exceptions', 'store_result',
        'after', 'after_policy', 'headers', 'limit_key', 'timeout', 'debounce',
        'throttle'
    ];
    -- every key checked after the test of these (in the case below)
    v_rare_keys text[] := array[
        'headers', 'limit_key', 'timeout', 'scheduled_at', 'scheduled_in', 'store_result',
        'after', 'after_policy'
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
            -- the checks below are of keys most jobs go without (v_rare_keys):
            -- a job without any of them is valid by now (a third of the cost
            -- of the checks of a batch of plain jobs)
            when not t.job ?| v_rare_keys
                then null
            when jsonb_typeof(t.job -> 'headers') not in ('object', 'null')
                or jsonb_path_exists(
                    t.job -> 'headers', 'strict $.* ? (@.type() != "string")', '{}', true
                )
                then 'has headers that are not a JSON object of strings'
            when pg_column_size(t.job -> 'headers') > 8192
                then 'has headers over 8192 bytes'
            when jsonb_typeof(t.job -> 'limit_key') not in ('string', 'null')
                or t.job ->> 'limit_key' = ''
                then 'has a limit_key that is not a non-empty string'
            when jsonb_typeof(t.job -> 'timeout') not in ('number', 'null')
                then 'has a timeout that is not a number of seconds above 0, at most 1e9'
            -- a number by now: the cast meets numbers only
            when (t.job ->> 'timeout')::numeric <= 0 or (t.job ->> 'timeout')::numeric > 1e9
                then 'has a timeout that is not a number of seconds above 0, at most 1e9'
            when jsonb_typeof(t.job -> 'scheduled_at') not in ('string', 'null')
                then 'has a scheduled_at that is not a timestamp string'
            when jsonb_typeof(t.job -> 'scheduled_in') not in ('number', 'null')
                or (t.job ->> 'scheduled_in')::numeric not between 0 and 1e10
                then 'has a scheduled_in that is not a number of seconds from 0 to 1e10'
            when t.job ? 'scheduled_at' and t.job ? 'scheduled_in'
                and t.job -> 'scheduled_at' <> 'null' and t.job -> 'scheduled_in' <> 'null'
                then 'has both scheduled_at and scheduled_in'
            when jsonb_typeof(t.job -> 'store_result') not in ('boolean', 'null')
                then 'has a store_result that is not a boolean'
            when jsonb_typeof(t.job -> 'after') not in ('array', 'null')
                or exists (
                    select 1 from jsonb_array_elements(
                        case jsonb_typeof(t.job -> 'after') when 'array' then t.job -> 'after' end
                    ) as a (id)
                    where jsonb_typeof(a.id) <> 'number' or a.id::text !~ '^[0-9]{1,18}$'
                )
                then 'has an after that is not an array of job ids'
            when jsonb_array_length(
                case jsonb_typeof(t.job -> 'after') when 'array' then t.job -> 'after' end
            ) > 10000
                then 'has an after of more than 10000 jobs'
            when jsonb_typeof(t.job -> 'after_policy') not in ('string', 'null')
                or t.job ->> 'after_policy' not in ('succeeded', 'always')
                then 'has an after_policy that is neither succeeded nor always'
            when jsonb_array_length(
                case jsonb_typeof(t.job -> 'after') when 'array' then t.job -> 'after' end
            ) > 0
                and (t.job -> 'scheduled_at' <> 'null' or t.job -> 'scheduled_in' <> 'null')
                then 'has both after and a schedule: a job deferred after others runs '
                    || 'once they ended'
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
create function _procrastinate_policy_problem(p_items jsonb)
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

-- The first job object of p_jobs whose debounce or throttle is invalid, or
-- comes with an option it cannot go with (21_debounce_throttle.sql).
-- Called by _procrastinate_validate_jobs only for batches that have either
-- key: a plain defer does not pay for these checks.
create function _procrastinate_dedup_problem(p_jobs jsonb)
returns table (ord bigint, message text)
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
as $$
begin
    return query
    select t.ord, p.message
    from jsonb_array_elements(p_jobs) with ordinality as t (job, ord)
    cross join lateral (
        select case
            when jsonb_typeof(t.job -> 'debounce') not in ('number', 'null')
                or (t.job ->> 'debounce')::numeric not between 0 and 1e9
                then 'has a debounce that is not a number of seconds from 0 to 1e9'
            when jsonb_typeof(t.job -> 'throttle') not in ('number', 'null')
                or (t.job ->> 'throttle')::numeric not between 0 and 1e9
                then 'has a throttle that is not a number of seconds from 0 to 1e9'
            when t.job -> 'debounce' <> 'null' and t.job -> 'throttle' <> 'null'
                then 'has both debounce and throttle'
            when (t.job -> 'debounce' <> 'null' or t.job -> 'throttle' <> 'null')
                and jsonb_typeof(t.job -> 'queueing_lock') is distinct from 'string'
                then 'has a debounce or throttle without a queueing_lock (the key they apply to)'
            when t.job -> 'debounce' <> 'null'
                and (t.job -> 'scheduled_at' <> 'null' or t.job -> 'scheduled_in' <> 'null')
                then 'has both debounce and a schedule: debounce sets the start'
            when (t.job -> 'debounce' <> 'null' or t.job -> 'throttle' <> 'null')
                and jsonb_array_length(
                    case jsonb_typeof(t.job -> 'after') when 'array' then t.job -> 'after' end
                ) > 0
                then 'has a debounce or throttle and an after: a job deferred after others '
                    || 'cannot be replaced or dropped'
        end as message
    ) as p
    where p.message is not null
    order by t.ord
    limit 1;
end;
$$;

-- A queueing lock of p_jobs that cannot be taken: used twice in the batch, or
-- held by a waiting job. Null when all are free. The message never names the
-- job that holds it (it may be another producer's).
create function _procrastinate_queueing_lock_problem(p_jobs jsonb)
returns text
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
-- The check probes the index once per job of the batch; the planner, which
-- guesses 100 jobs per batch, would rather hash every waiting job with a
-- queueing lock (0.4 s with 100,000 of them). The probe is a LATERAL
-- subquery, so the batch drives the loop: with statistics that say the table
-- is small (a backlog deferred since the last analyze), a plain join could
-- walk the whole index and probe the batch for each row instead.
set enable_hashjoin = off
set enable_mergejoin = off
set enable_bitmapscan = off
set enable_seqscan = off
as $$
declare
    v_lock text;
begin
    select q.lock into v_lock
    from (
        select t.job ->> 'queueing_lock' as lock
        from jsonb_array_elements(p_jobs) as t (job)
        where
            t.job ->> 'queueing_lock' is not null
            -- debounce and throttle decide for themselves (21_debounce_throttle.sql)
            and jsonb_typeof(t.job -> 'debounce') is distinct from 'number'
            and jsonb_typeof(t.job -> 'throttle') is distinct from 'number'
    ) as q
    group by q.lock
    having count(*) > 1
    limit 1;
    if v_lock is not null then
        return format('queueing lock "%s" is used by several jobs of this batch', v_lock);
    end if;

    select h.queueing_lock into v_lock
    from jsonb_array_elements(p_jobs) as t (job)
    cross join lateral (
        select j.queueing_lock
        from procrastinate_jobs as j
        where
            md5(j.queueing_lock) = md5(t.job ->> 'queueing_lock')
            and j.queueing_lock = t.job ->> 'queueing_lock'
            and j.status = 'todo'
        limit 1
    ) as h
    where
        t.job ->> 'queueing_lock' is not null
        and jsonb_typeof(t.job -> 'debounce') is distinct from 'number'
        and jsonb_typeof(t.job -> 'throttle') is distinct from 'number'
    limit 1;
    if v_lock is not null then
        return format('queueing lock "%s" is already taken by a waiting job', v_lock);
    end if;
    return null;
end;
$$;

-- Raises PT001 naming the first invalid job object of a JSON array, PT002 for
-- a queueing lock that is taken. Called by procrastinate_defer_jobs_v2.
create function _procrastinate_validate_jobs(p_jobs jsonb)
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
    if v_message is null and jsonb_path_exists(
        p_jobs, 'lax $[*] ? (exists(@.debounce) || exists(@.throttle))'
    ) then
        select p.ord, p.message into v_ord, v_message
        from _procrastinate_dedup_problem(p_jobs) as p;
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
create function _procrastinate_insert_jobs(p_jobs jsonb, p_now timestamptz)
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
            retry_exponential_wait, retry_exceptions, created_at, deferred_by, store_result,
            parents, after_policy, headers, limit_key, timeout
        )
        select
            input.new_id,
            coalesce(input.job ->> 'queue_name', 'default'),
            input.job ->> 'task_name',
            coalesce((input.job ->> 'priority')::integer, 0),
            input.job ->> 'lock',
            input.job ->> 'queueing_lock',
            coalesce(nullif(input.job -> 'args', 'null'::jsonb), '{}'::jsonb),
            case
                -- waits for its parents (57_dependencies.sql)
                when jsonb_array_length(
                    case jsonb_typeof(input.job -> 'after') when 'array' then input.job -> 'after' end
                ) > 0
                    then _procrastinate_held_until()
                else coalesce(
                    (input.job ->> 'scheduled_at')::timestamptz,
                    -- relative times are added to the database's clock, not the caller's
                    p_now + make_interval(secs => (input.job ->> 'scheduled_in')::double precision)
                )
            end,
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
            session_user,
            coalesce((input.job ->> 'store_result')::boolean, false),
            case when jsonb_array_length(
                    case jsonb_typeof(input.job -> 'after') when 'array' then input.job -> 'after' end
                ) > 0 then array(
                select jsonb_array_elements_text(input.job -> 'after')::bigint
            ) end,
            case when jsonb_array_length(
                    case jsonb_typeof(input.job -> 'after') when 'array' then input.job -> 'after' end
                ) > 0
                then coalesce(input.job ->> 'after_policy', 'succeeded')
            end,
            -- none: null (an empty object stores nothing either)
            nullif(nullif(input.job -> 'headers', 'null'::jsonb), '{}'::jsonb),
            input.job ->> 'limit_key',
            (input.job ->> 'timeout')::double precision
        from input
        order by input.ord
        returning 1
    )

    select input.new_id from input order by input.ord;
end;
$$;

-- Validates and inserts a JSON array of job objects, all or nothing, and
-- returns their ids in input order. Called by the Python driver for single
-- and batch defers, and by the user-facing defer functions.
create function procrastinate_defer_jobs_v2(p_jobs jsonb, p_now timestamptz default null)
returns table (id bigint)
language plpgsql
-- Lets a producer role that may only execute the defer functions insert jobs
-- (see sql/optional/roles.sql); the pinned search_path keeps it safe.
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_ids bigint[];
    v_job jsonb;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    perform _procrastinate_validate_jobs(p_jobs);

    -- An exception block costs a subtransaction on every call: enter one only
    -- when there is an error to translate, a scheduled_at text to parse, a
    -- queueing lock that a concurrent defer may take first (debounce and
    -- throttle have one), or parents to link (57_dependencies.sql).
    if not jsonb_path_exists(
        p_jobs,
        (
            'lax $[*] ? (@.scheduled_at.type() == "string" || @.queueing_lock.type() == "string"'
            || ' || @.after.type() == "array")'
        )::jsonpath
    ) then
        return query select i.id from _procrastinate_insert_jobs(p_jobs, v_now) as i;
        return;
    end if;

    begin
        if jsonb_path_exists(
            p_jobs, 'lax $[*] ? (@.debounce.type() == "number" || @.throttle.type() == "number")'
        ) then
            -- one job at a time, in input order: a debounced or throttled job
            -- sees the jobs of the batch before it (21_debounce_throttle.sql)
            v_ids := '{}';
            for v_job in select t.job from jsonb_array_elements(p_jobs) as t (job) loop
                if jsonb_typeof(v_job -> 'debounce') = 'number'
                    or jsonb_typeof(v_job -> 'throttle') = 'number' then
                    v_ids := v_ids || _procrastinate_defer_deduplicated(v_job, v_now);
                else
                    v_ids := v_ids || array(
                        select i.id
                        from _procrastinate_insert_jobs(jsonb_build_array(v_job), v_now) as i
                    );
                end if;
            end loop;
        else
            v_ids := array(select i.id from _procrastinate_insert_jobs(p_jobs, v_now) as i);
        end if;
        if jsonb_path_exists(p_jobs, 'lax $[*].after[*]') then
            perform _procrastinate_link_parents(v_ids);
        end if;
    exception
        when invalid_datetime_format or datetime_field_overflow then
            raise exception 'invalid scheduled_at: %', sqlerrm
                using errcode = 'PT001';
        -- validation saw the lock free, but a concurrent defer took it since
        when unique_violation then
            raise exception 'queueing lock already taken by a waiting job'
                using errcode = 'PT002',
                    hint = 'Only one job per queueing lock may wait in todo.';
    end;
    return query select u.id from unnest(v_ids) with ordinality as u (id, ord) order by u.ord;
end;
$$;

-- User-facing batch defer: a JSON array of job objects (see
-- procrastinate_defer_job for the keys); ids come back in input order.
create function procrastinate_defer_jobs(jobs jsonb)
returns setof bigint
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    select d.id from procrastinate_defer_jobs_v2(jobs) as d;
$$;

comment on function procrastinate_defer_jobs(jsonb) is
'Defer many jobs in one call, all or nothing. jobs is a JSON array of objects with the keys
of procrastinate_defer_job (task_name required), plus scheduled_in (seconds from now, on the
database''s clock). Returns the new ids in input order.
Example: select * from procrastinate_defer_jobs(''[{"task_name": "a"}, {"task_name": "b",
"args": {"x": 1}, "queue_name": "mail"}]'');';

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
    max_runs integer default null,
    store_result boolean default false,
    after bigint[] default null,
    after_policy text default null,
    limit_key text default null,
    timeout double precision default null,
    debounce double precision default null,
    throttle double precision default null
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
        'max_runs', max_runs,
        'store_result', store_result,
        'after', to_jsonb(after),
        'after_policy', after_policy,
        'limit_key', limit_key,
        'timeout', timeout,
        'debounce', debounce,
        'throttle', throttle
    ));
begin
    return (select d.id from procrastinate_defer_jobs_v2(v_jobs) as d);
end;
$$;

comment on function procrastinate_defer_job(
    text, jsonb, text, integer, text, text, timestamptz, integer,
    double precision, double precision, double precision, text[], integer, boolean, bigint[], text,
    text, double precision, double precision, double precision
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
retry_exceptions limits retries to failures of these class names. store_result: keep what
the task returns (read it with procrastinate_job_result; the job is then kept when it ends,
until retention removes it). after: ids of jobs this one waits for; it runs once they all
succeeded, and is cancelled as soon as one ends otherwise (after_policy ''always'': it runs
whatever they became). limit_key: a concurrency limit set on this key
(procrastinate_set_limit(limit_key => ...)) caps how many jobs with it run at once. timeout:
seconds a run may last from its claim (above 0); a worker stops it then and it fails with
JobTimeout (retried by its policy); a run still going past its deadline and a grace of 10 s is
taken back by the rescue. debounce (seconds, with a queueing_lock): a job already waiting with
the lock gets these args and starts debounce seconds from now; its id is returned. throttle
(seconds, with a queueing_lock): at most one job per lock per period, counted from the defer
that created it; a defer within the period creates nothing and returns the id of the period''s
job. Bad input, or an after naming a job that does not exist: SQLSTATE PT001.';
