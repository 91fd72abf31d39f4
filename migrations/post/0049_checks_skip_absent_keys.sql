-- The checks of a defer's jobs and of a report's outcomes skip those of the
-- keys most go without when a job or outcome has none of them: the same
-- answers, at two thirds of the cost for a batch of plain jobs and four
-- fifths for plain outcomes. Only two functions are replaced, with their
-- signatures.
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

-- The first outcome of p_outcomes with a problem, as (ord, sqlstate,
-- message): PT004 for a status a worker cannot report, PT005 for any other
-- malformed member, or for a retry policy the worker sends that a job's own
-- policy could not have (_procrastinate_policy_problem).
create or replace function _procrastinate_outcome_problem(p_outcomes jsonb)
returns table (ord bigint, sqlstate text, message text)
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
as $$
begin
    return query
    select t.ord, p.problem[1], format('outcome #%s %s', t.ord, p.problem[2])
    from jsonb_array_elements(p_outcomes) with ordinality as t (o, ord)
    cross join lateral (
        select case
            when jsonb_typeof(t.o) <> 'object'
                then array['PT005', 'is not a JSON object']
            when jsonb_typeof(t.o -> 'id') is distinct from 'number'
                or (t.o ->> 'id') !~ '^[0-9]{1,18}$'
                then array['PT005', 'needs an integer id']
            when jsonb_typeof(t.o -> 'attempt') not in ('number', 'null')
                or (t.o ->> 'attempt') !~ '^[0-9]{1,9}$'
                then array['PT005', 'has an attempt that is not an integer']
            when jsonb_typeof(t.o -> 'status') is distinct from 'string'
                or t.o ->> 'status' not in ('succeeded', 'failed', 'aborted')
                then array['PT004', 'has status ' || coalesce(t.o ->> 'status', 'null')
                    || ', expected succeeded, failed or aborted']
            -- the checks below are of keys a plain outcome goes without: an
            -- outcome without any of them is valid by now (a fifth of the
            -- cost of the checks of a report)
            when not t.o ?| array['error', 'result_error', 'interrupted', 'retry', 'policy']
                then null
            when jsonb_typeof(t.o -> 'error') not in ('object', 'null')
                or jsonb_typeof(t.o -> 'error' -> 'types') not in ('array', 'null')
                or jsonb_typeof(t.o -> 'error' -> 'message') not in ('string', 'null')
                or jsonb_typeof(t.o -> 'error' -> 'traceback') not in ('string', 'null')
                or jsonb_path_exists(t.o, 'lax $.error.types[*] ? (@.type() != "string")')
                then array['PT005', 'has an error that is not {"types": [class names], '
                    || '"message": text, "traceback": text}']
            when jsonb_typeof(t.o -> 'result_error') not in ('string', 'null')
                then array['PT005', 'has a result_error that is not a string']
            when jsonb_typeof(t.o -> 'interrupted') not in ('boolean', 'null')
                then array['PT005', 'has an interrupted that is not a boolean']
            when jsonb_typeof(t.o -> 'retry') not in ('object', 'boolean', 'null')
                or t.o -> 'retry' = 'true'::jsonb
                then array['PT005', 'has a retry that is neither false nor a decision object']
            when jsonb_typeof(t.o -> 'retry') = 'object' and (
                jsonb_typeof(t.o -> 'retry' -> 'at') not in ('string', 'null')
                or jsonb_typeof(t.o -> 'retry' -> 'in') not in ('number', 'null')
                or (t.o -> 'retry' ->> 'in')::numeric not between 0 and 1e10
                or jsonb_typeof(t.o -> 'retry' -> 'priority') not in ('number', 'null')
                or (t.o -> 'retry' ->> 'priority') !~ '^-?[0-9]{1,9}$'
                or jsonb_typeof(t.o -> 'retry' -> 'queue') not in ('string', 'null')
                or t.o -> 'retry' ->> 'queue' = ''
                or jsonb_typeof(t.o -> 'retry' -> 'lock') not in ('string', 'null')
            )
                then array['PT005', 'has a retry decision that is not {"at": timestamp, '
                    || '"in": seconds, "priority": integer, "queue": text, "lock": text}']
            when jsonb_typeof(t.o -> 'policy') not in ('object', 'null')
                then array['PT005', 'has a policy that is not an object']
        end as problem
    ) as p
    where p.problem is not null
    order by t.ord
    limit 1;
    if found or not jsonb_path_exists(p_outcomes, 'lax $[*].policy ? (@.type() == "object")') then
        return;
    end if;

    return query
    select t.ord, 'PT005', 'an outcome carries an invalid retry policy: it ' || p.message
    from jsonb_array_elements(p_outcomes) with ordinality as t (o, ord)
    cross join lateral _procrastinate_policy_problem(jsonb_build_array(t.o -> 'policy')) as p
    where jsonb_typeof(t.o -> 'policy') = 'object'
    order by t.ord
    limit 1;
end;
$$;
