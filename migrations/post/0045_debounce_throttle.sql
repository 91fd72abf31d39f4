-- Debounce and throttle on defer (issue 18, part 4; sql/21_debounce_throttle.sql):
-- two keys of a job object, debounce and throttle (seconds, on the job's
-- queueing lock), and the parameters of the same names at the end of
-- procrastinate_defer_job (dropped and created again: every call that worked
-- still works, with its grants where sql/optional/roles.sql is in use).
-- Debounce replaces the args of the job waiting with the lock and pushes its
-- start; throttle keeps one job per lock per period, remembered in the new
-- table procrastinate_throttles (procrastinate_remove_old_jobs_v1 deletes
-- the periods that are over). Validation (_procrastinate_job_problem knows
-- the keys, _procrastinate_dedup_problem checks them, only for batches that
-- have them; _procrastinate_queueing_lock_problem leaves such jobs to the
-- defer) and procrastinate_defer_jobs_v2 learn the keys; a job without them
-- goes the same way as before. procrastinate_job_transitions lists the new
-- writer of procrastinate_jobs.
-- The table is new and empty: its index is built at once. No existing table
-- is locked or rewritten. The drop is of a function no table or view depends
-- on, in the same transaction as its new definition: callers see one or the
-- other.
-- squawk-ignore-file ban-drop-function, require-concurrent-index-creation
set local lock_timeout = '10s';
set local statement_timeout = '30s';

-- The memory of throttle: per queueing lock, the last defer that opened a
-- period and the job it stood for. Kept apart from procrastinate_jobs so
-- that it outlives the job (its end, its deletion by retention);
-- procrastinate_remove_old_jobs_v1 deletes the periods that are over.
create table procrastinate_throttles (
    id bigint primary key generated always as identity,
    queueing_lock text not null,
    -- the defer that opened the period, and the job it created or found
    -- waiting (that job may have ended and been deleted since)
    deferred_at timestamptz not null,
    job_id bigint not null,
    -- defers before this time are dropped
    throttled_until timestamptz not null
);

-- One period per queueing lock (md5: a lock may be longer than a b-tree
-- entry, as procrastinate_jobs_queueing_lock_idx_v1).
create unique index procrastinate_throttles_lock_idx_v1
on procrastinate_throttles (md5(queueing_lock));

create or replace view procrastinate_job_transitions as
select
    t.from_status,
    t.to_status,
    t.function_name,
    t.attempts
from (
    values
    ('(new)', 'todo', '_procrastinate_insert_jobs', 'set to 0'),
    ('todo', 'doing', 'procrastinate_fetch_jobs_v5', 'kept'),
    ('todo', 'cancelled', 'procrastinate_cancel_job_v1', 'kept'),
    ('todo', '(deleted)', 'procrastinate_cancel_job_v1', '-'),
    ('todo', 'cancelled', 'procrastinate_cancel_jobs', 'kept'),
    ('doing', 'succeeded', '_procrastinate_apply_outcomes', '+1'),
    ('doing', 'failed', '_procrastinate_apply_outcomes', '+1'),
    ('doing', 'aborted', '_procrastinate_apply_outcomes', '+1'),
    ('doing', 'todo', '_procrastinate_apply_outcomes', '+1 (retry by policy or decision)'),
    ('doing', '(deleted)', '_procrastinate_apply_outcomes', '-'),
    ('doing', 'todo', 'procrastinate_retry_job_v1', '+1'),
    ('doing', 'failed', 'procrastinate_retry_job_v1', '+1 (abort was pending)'),
    ('doing', 'todo', 'procrastinate_unregister_worker_v2', '+1'),
    ('doing', 'aborted', 'procrastinate_unregister_worker_v2', '+1 (abort was pending)'),
    ('doing', 'todo', 'procrastinate_release_jobs_v2', 'kept (event released)'),
    ('doing', 'aborted', 'procrastinate_release_jobs_v2', 'kept (abort was pending)'),
    -- for procrastinate_rescue_stalled_jobs_v2 and procrastinate_reconcile_held_jobs_v1
    ('doing', 'todo', '_procrastinate_take_back_jobs', '+1, rescue_count +1'),
    ('doing', 'failed', '_procrastinate_take_back_jobs', '+1 (rescue or attempt limit)'),
    ('doing', 'aborted', '_procrastinate_take_back_jobs', '+1 (abort was pending)'),
    ('failed', 'todo', 'procrastinate_retry_job_v1', 'kept'),
    ('failed', 'todo', 'procrastinate_retry_failed_jobs', 'kept'),
    ('succeeded', '(deleted)', 'procrastinate_remove_old_jobs_v1', '-'),
    ('failed', '(deleted)', 'procrastinate_remove_old_jobs_v1', '-'),
    ('cancelled', '(deleted)', 'procrastinate_remove_old_jobs_v1', '-'),
    ('aborted', '(deleted)', 'procrastinate_remove_old_jobs_v1', '-'),
    -- jobs deferred after others (57_dependencies.sql)
    ('todo', 'todo', '_procrastinate_parents_ended', 'kept (released: its parents ended)'),
    ('todo', 'cancelled', '_procrastinate_parents_ended', 'kept (a parent did not succeed)'),
    ('todo', 'todo', '_procrastinate_link_parents', 'kept (marked a parent; any status)'),
    ('doing', 'doing', '_procrastinate_link_parents', 'kept (marked a parent; any status)'),
    -- debounce (21_debounce_throttle.sql)
    ('todo', 'todo', '_procrastinate_defer_deduplicated', 'kept (debounce: new args, start)'),
    -- concurrency limits (59_limits.sql)
    ('doing', 'doing', '_procrastinate_set_limit', 'kept (marked limited: a limit was set)')
) as t (from_status, to_status, function_name, attempts);


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
create or replace function _procrastinate_queueing_lock_problem(p_jobs jsonb)
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

-- Defers one validated job object that has a debounce or a throttle (and a
-- queueing lock) at p_now; returns the id of the job that stands for it.
-- Called by procrastinate_defer_jobs_v2, one job at a time, in input order.
--
-- Debounce: lock the job waiting with the queueing lock and replace it; when
-- none waits, insert. A concurrent defer may insert first: the unique index
-- on waiting queueing locks refuses ours, and the loop locks that job
-- instead; the job may also start between (the lock then finds nothing and
-- the loop inserts). Concurrent defers of one key queue on the row lock of
-- the waiting job, so the last to commit leaves its args. A waiting job of
-- another task, of another login (deferred_by: a producer never rewrites
-- another's job), or deferred after others (held until they end) keeps the
-- lock: PT002, as for a plain defer; the same for throttle, which never
-- stands for such a job. The lookup comes first: an insert
-- refused by the unique index would cost a dead row in every index.
--
-- Throttle: a period still open is read without a lock, and the defer is
-- dropped. Otherwise the period is taken with one insert ... on conflict on
-- procrastinate_throttles: a concurrent defer of the same key waits for the
-- row, then sees the period open and returns its job. A new period whose job
-- cannot be inserted because a job still waits with the lock takes that
-- waiting job as its job (no second one waits).
create function _procrastinate_defer_deduplicated(p_job jsonb, p_now timestamptz)
returns bigint
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_lock text := p_job ->> 'queueing_lock';
    v_debounce double precision := (p_job ->> 'debounce')::double precision;
    v_throttle double precision := (p_job ->> 'throttle')::double precision;
    v_insert jsonb := p_job - 'debounce' - 'throttle';
    v_id bigint;
    v_task text;
    v_parents bigint[];
    v_deferred_by text;
    v_opened boolean;
    v_found boolean := false;
begin
    if v_debounce is not null then
        v_insert := v_insert || jsonb_build_object('scheduled_in', v_debounce);
    else
        select t.job_id into v_id
        from procrastinate_throttles as t
        where md5(t.queueing_lock) = md5(v_lock) and t.throttled_until > p_now;
        if v_id is not null then
            return v_id;
        end if;
        insert into procrastinate_throttles as t (
            queueing_lock, deferred_at, job_id, throttled_until
        )
        values (v_lock, p_now, 0, p_now + make_interval(secs => v_throttle))
        on conflict (md5(queueing_lock)) do update
            set
                queueing_lock = excluded.queueing_lock,
                deferred_at = excluded.deferred_at,
                job_id = 0,
                throttled_until = excluded.throttled_until
            where t.throttled_until <= excluded.deferred_at
        returning true into v_opened;
        if v_opened is null then
            -- a concurrent defer opened the period (the row is locked, its job set)
            select t.job_id into v_id
            from procrastinate_throttles as t
            where md5(t.queueing_lock) = md5(v_lock);
            return v_id;
        end if;
    end if;

    loop
        select j.id, j.task_name, j.parents, j.deferred_by
        into v_id, v_task, v_parents, v_deferred_by
        from procrastinate_jobs as j
        where
            md5(j.queueing_lock) = md5(v_lock)
            and j.queueing_lock = v_lock
            and j.status = 'todo'
            and j.attempts = 0
        for update;
        if v_id is not null then
            v_found := true;
            exit;
        end if;
        begin
            select i.id into v_id
            from _procrastinate_insert_jobs(jsonb_build_array(v_insert), p_now) as i;
            exit;
        exception
            when unique_violation then
                -- a concurrent defer inserted first: lock its job
                null;
        end;
    end loop;

    if v_found and (
        v_task <> p_job ->> 'task_name' or v_parents is not null
        or v_deferred_by is distinct from session_user
    ) then
        raise exception
            'queueing lock "%" is taken by a waiting job of another task or login, or held for its parents',
            v_lock
            using errcode = 'PT002',
                hint = 'Debounce and throttle stand for a waiting job of the same task, '
                    || 'deferred by the same login, and not waiting for parents.';
    end if;
    if v_found and v_debounce is not null then
        update procrastinate_jobs as j
        set
            args = coalesce(nullif(p_job -> 'args', 'null'::jsonb), '{}'::jsonb),
            scheduled_at = p_now + make_interval(secs => v_debounce),
            queue_name = coalesce(p_job ->> 'queue_name', j.queue_name),
            priority = coalesce((p_job ->> 'priority')::integer, j.priority),
            lock = coalesce(p_job ->> 'lock', j.lock),
            headers = coalesce(
                nullif(nullif(p_job -> 'headers', 'null'::jsonb), '{}'::jsonb), j.headers
            ),
            limit_key = coalesce(p_job ->> 'limit_key', j.limit_key),
            store_result = coalesce((p_job ->> 'store_result')::boolean, j.store_result),
            timeout = coalesce((p_job ->> 'timeout')::double precision, j.timeout)
        where j.id = v_id;
    end if;

    if v_throttle is not null then
        update procrastinate_throttles as t
        set job_id = v_id
        where md5(t.queueing_lock) = md5(v_lock);
    end if;
    return v_id;
end;
$$;

-- Validates and inserts a JSON array of job objects, all or nothing, and
-- returns their ids in input order. Called by the Python driver for single
-- and batch defers, and by the user-facing defer functions.
create or replace function procrastinate_defer_jobs_v2(p_jobs jsonb, p_now timestamptz default null)
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

-- Deletes finished jobs older than max_hours, at most max_jobs of them.
create or replace function procrastinate_remove_old_jobs_v1(
    max_hours double precision,
    queue_name text default null,
    statuses text[] default array['succeeded'],
    max_jobs integer default null,
    p_now timestamptz default null
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
-- a delete of many old jobs is estimated costly enough for JIT, whose
-- compilation would cost more than the delete of a bounded batch
set jit = off
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_count integer;
    v_bad text;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if max_hours is null or max_hours < 0 then
        raise exception 'max_hours must be zero or more, got %', max_hours
            using errcode = 'PT001';
    end if;
    if max_jobs < 0 then
        raise exception 'max_jobs must be zero or more (null: no limit), got %', max_jobs
            using errcode = 'PT001';
    end if;
    select s into v_bad
    from unnest(statuses) as s
    where s not in ('succeeded', 'failed', 'cancelled', 'aborted')
    limit 1;
    if v_bad is not null then
        raise exception 'statuses: cannot remove jobs of status %: only succeeded, failed, cancelled or aborted',
            v_bad
            using errcode = 'PT001';
    end if;

    -- The ids are picked once (a materialized CTE): in a semi-join the
    -- subquery could be rescanned and its limit would then bound nothing.
    with old as materialized (
        select o.id
        from procrastinate_jobs as o
        where
            o.status::text = any(statuses)
            and (procrastinate_remove_old_jobs_v1.queue_name is null
                or o.queue_name = procrastinate_remove_old_jobs_v1.queue_name)
            and coalesce(o.finished_at, o.created_at)
            < v_now - make_interval(secs => max_hours * 3600)
        order by o.id
        limit max_jobs
        for update skip locked
    )

    delete from procrastinate_jobs as j
    using old
    where j.id = old.id;
    get diagnostics v_count = row_count;
    -- throttle periods that are over remember nothing a defer needs
    -- (21_debounce_throttle.sql)
    delete from procrastinate_throttles as t where t.throttled_until <= v_now;
    return v_count;
end;
$$;

drop function procrastinate_defer_job(
    text, jsonb, text, integer, text, text, timestamptz, integer,
    double precision, double precision, double precision, text[], integer, boolean, bigint[],
    text, text, double precision
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

-- Where sql/optional/roles.sql is in use: what it would grant. A new
-- function is executable by PUBLIC until revoked.
do $$
begin
    if to_regrole('procrastinate_operator') is null then
        return;
    end if;
    revoke execute on function
    procrastinate_defer_job(
    text, jsonb, text, integer, text, text, timestamptz, integer,
    double precision, double precision, double precision, text[], integer, boolean, bigint[],
    text, text, double precision, double precision, double precision
    ),
    _procrastinate_dedup_problem(jsonb),
    _procrastinate_defer_deduplicated(jsonb, timestamptz)
    from public;
    grant execute on function
    procrastinate_defer_job(
    text, jsonb, text, integer, text, text, timestamptz, integer,
    double precision, double precision, double precision, text[], integer, boolean, bigint[],
    text, text, double precision, double precision, double precision
    )
    to procrastinate_producer, procrastinate_operator;
end;
$$;
