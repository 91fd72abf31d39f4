-- Deferring validates every job object; its check of the three retry waits
-- walked each object with jsonb_each, 40% of the server time of a defer.
-- The check now reads the three keys directly (same rules, same messages).
-- Same signature and result: a plain replace, old and new workers unaffected.
-- Creating or replacing a function takes no lock on the queue's tables;
-- the timeouts bound the wait on the catalog should anything hold it.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

-- Raises PT001 naming the first invalid job object of a JSON array, PT002 for
-- a queueing lock that is taken. Called by procrastinate_defer_jobs_v1.
create or replace function procrastinate_validate_jobs_v1(p_jobs jsonb)
returns void
language plpgsql
stable
set search_path = pg_catalog, public
as $$
declare
    v_ord bigint;
    v_problem text;
    v_lock text;
    v_job_id bigint;
    -- Limits on args, settable per database or role (alter database ... set):
    -- workers must be able to load every job they fetch (Python's json module
    -- gives up around 1000 levels of nesting).
    v_max_bytes bigint := coalesce(
        nullif(current_setting('procrastinate.max_args_bytes', true), '')::bigint,
        10485760
    );
    v_max_depth integer := coalesce(
        nullif(current_setting('procrastinate.max_args_depth', true), '')::integer,
        100
    );
    v_known_keys text[] := array[
        'task_name', 'args', 'queue_name', 'priority', 'lock', 'queueing_lock',
        'scheduled_at', 'max_attempts', 'retry_wait', 'retry_linear_wait',
        'retry_exponential_wait', 'retry_exceptions'
    ];
begin
    if p_jobs is null or jsonb_typeof(p_jobs) <> 'array' then
        raise exception 'jobs must be a JSON array of job objects, got %',
            coalesce(jsonb_typeof(p_jobs), 'null')
            using errcode = 'PT001';
    end if;

    select t.ord, problems.problem
    into v_ord, v_problem
    from jsonb_array_elements(p_jobs) with ordinality as t (job, ord)
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
            when pg_column_size(t.job -> 'args') > v_max_bytes
                then format(
                    'has args of %s bytes, over the limit of %s (setting procrastinate.max_args_bytes)',
                    pg_column_size(t.job -> 'args'), v_max_bytes
                )
            -- nesting deeper than n needs at least 2n bytes: skip the walk for small args
            when pg_column_size(t.job -> 'args') > 2 * v_max_depth
                and jsonb_path_exists(
                    t.job -> 'args', format('strict $.**{%s}', v_max_depth)::jsonpath
                )
                then format(
                    'has args nested %s levels deep or more (setting procrastinate.max_args_depth)',
                    v_max_depth
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
            when jsonb_typeof(t.job -> 'max_attempts') not in ('number', 'null')
                or (t.job ->> 'max_attempts') !~ '^-?[0-9]{1,9}$'
                then 'has a max_attempts that is not an integer'
            when (t.job ->> 'max_attempts')::integer < 0
                then 'has a negative max_attempts ('
                    || (t.job ->> 'max_attempts') || '); use 0 for no limit'
            -- a wait is null, or a number of seconds from 0 to 1e9; one key at
            -- a time (walking the object with jsonb_each was 40% of a defer),
            -- the type first, so that the cast only meets numbers
            when jsonb_typeof(t.job -> 'retry_wait') not in ('number', 'null')
                or jsonb_typeof(t.job -> 'retry_linear_wait') not in ('number', 'null')
                or jsonb_typeof(t.job -> 'retry_exponential_wait') not in ('number', 'null')
                then 'has a retry wait that is not a number of seconds from 0 to 1e9'
            when (t.job ->> 'retry_wait')::numeric not between 0 and 1e9
                or (t.job ->> 'retry_linear_wait')::numeric not between 0 and 1e9
                or (t.job ->> 'retry_exponential_wait')::numeric not between 0 and 1e9
                then 'has a retry wait that is not a number of seconds from 0 to 1e9'
            -- silent: a retry_exceptions that is not an array is caught just above
            when jsonb_typeof(t.job -> 'retry_exceptions') not in ('array', 'null')
                or jsonb_path_exists(
                    t.job, 'strict $.retry_exceptions[*] ? (@.type() != "string")', '{}', true
                )
                then 'has retry_exceptions that are not an array of class names'
        end as problem
    ) as problems
    where problems.problem is not null
    order by t.ord
    limit 1;

    if v_problem is not null then
        raise exception 'job #% of % is invalid: it %', v_ord, jsonb_array_length(p_jobs), v_problem
            using errcode = 'PT001',
                hint = 'A job object is {"task_name": ..., "args": {...}, "queue_name": ..., ...}';
    end if;

    if not jsonb_path_exists(p_jobs, 'lax $[*].queueing_lock ? (@.type() == "string")') then
        return;
    end if;

    -- Queueing locks: one waiting job per lock, within the batch and overall.
    select q.lock into v_lock
    from (
        select t.job ->> 'queueing_lock' as lock
        from jsonb_array_elements(p_jobs) as t (job)
        where t.job ->> 'queueing_lock' is not null
    ) as q
    group by q.lock
    having count(*) > 1
    limit 1;
    if v_lock is not null then
        raise exception 'queueing lock "%" is used by several jobs of this batch', v_lock
            using errcode = 'PT002';
    end if;

    select j.queueing_lock, j.id into v_lock, v_job_id
    from jsonb_array_elements(p_jobs) as t (job)
    inner join procrastinate_jobs as j
        on
            md5(j.queueing_lock) = md5(t.job ->> 'queueing_lock')
            and j.queueing_lock = t.job ->> 'queueing_lock'
    where j.status = 'todo'
    limit 1;
    if v_lock is not null then
        raise exception 'queueing lock "%" is already taken by waiting job %', v_lock, v_job_id
            using errcode = 'PT002',
                hint = 'Only one job per queueing lock may wait in todo.';
    end if;
end;
$$;
