-- Job timeouts (issue 18, part 3): a job deferred with a timeout (seconds:
-- the job object's "timeout", procrastinate_defer_job's new last parameter
-- timeout, or a Python task's default) gets a deadline with each claim, its
-- claim's time plus the timeout. The worker stops the run at the deadline
-- (a failure of type JobTimeout, retried by the job's policy), and the
-- rescue takes back a job still running past its deadline and a grace of
-- 10 s (_procrastinate_timeout_grace), whether its worker is alive or not.
-- New: the columns timeout and deadline of procrastinate_jobs with the
-- partial index procrastinate_jobs_deadline_idx_v1 (running jobs with a
-- deadline only), the claim procrastinate_fetch_jobs_v5 (v4 with the
-- deadline set in its update, and timeout and deadline returned;
-- procrastinate_fetch_jobs_v4, v3 and v2 become its wrappers: the previous
-- releases' workers keep working), the view procrastinate_overdue_jobs.
-- procrastinate_defer_job is dropped and created again with its new last
-- parameter: every call that worked still works, with its grants where
-- sql/optional/roles.sql is in use.
-- A post migration: the code falls back to procrastinate_fetch_jobs_v4
-- (timeouts then enforced by the worker only) until it ran, and a pre after
-- the post migrations would block the procrastinate 3.x conversion.
-- Adding a column without a default only changes the catalog. The index is
-- built in this transaction: it holds writes to procrastinate_jobs while
-- the table is read (it holds no row yet). On a big table, build it
-- beforehand without blocking writes, and this step skips it:
--   create index concurrently if not exists procrastinate_jobs_deadline_idx_v1
--   on procrastinate_jobs (deadline) where status = 'doing' and deadline is not null;
-- The drop is of a function no table or view depends on, in the same
-- transaction as its new definition: callers see one or the other.
-- squawk-ignore-file ban-drop-function, require-concurrent-index-creation
set local lock_timeout = '10s';
set local statement_timeout = '30s';

alter table procrastinate_jobs add column timeout double precision;
alter table procrastinate_jobs add column deadline timestamptz;

-- Running jobs with a deadline, for the rescue of jobs past it
-- (65_rescue.sql): a job without a timeout never has an entry, so a claim of
-- one adds none.
create index if not exists procrastinate_jobs_deadline_idx_v1
on procrastinate_jobs (deadline) where status = 'doing' and deadline is not null;

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
        'after', 'after_policy', 'headers', 'limit_key', 'timeout'
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

drop function procrastinate_defer_job(
    text, jsonb, text, integer, text, text, timestamptz, integer,
    double precision, double precision, double precision, text[], integer, boolean, bigint[],
    text, text
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
    timeout double precision default null
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
        'timeout', timeout
    ));
begin
    return (select d.id from procrastinate_defer_jobs_v2(v_jobs) as d);
end;
$$;

comment on function procrastinate_defer_job(
    text, jsonb, text, integer, text, text, timestamptz, integer,
    double precision, double precision, double precision, text[], integer, boolean, bigint[], text,
    text, double precision
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
taken back by the rescue. Bad input, or an after naming a job that does not exist:
SQLSTATE PT001.';

-- Claims up to p_limit jobs for p_worker_id from p_queues (null: all queues),
-- highest priority first, then oldest, under the claim token p_claim_token.
-- A call retried because its answer was lost (p_resume true, same token)
-- first gets back the jobs the lost call claimed, and claims new ones only
-- up to p_limit with them. Called by the Python worker; store_result tells
-- it whether to send what the task returns (40_finish.sql), parents which
-- jobs the job was deferred after (their results: 56_results.sql), headers
-- what its defer stored with it (the W3C trace context of the defer:
-- traceparent, tracestate), waited how many seconds it waited since its
-- defer, or its scheduled time if later (the lag of the queue, measured on
-- the database's clock).
--
-- Its cost does not grow with the number of waiting jobs. Candidates are
-- gathered first, without locking anything, from ordered walks of partial
-- indexes that each hold only one kind of waiting job, so that no walk steps
-- over rows it cannot claim:
--   ready: not scheduled, without a lock (procrastinate_jobs_ready_idx_v1,
--     or per queue procrastinate_jobs_ready_queue_idx_v1): every row walked
--     is claimable, the walk stops after p_limit rows;
--   locked: not scheduled, with a lock (procrastinate_jobs_locked_idx_v1 and
--     its per-queue twin): a row is claimable only at the head of its lock,
--     so at most a window of rows is walked; if the window holds too few
--     heads (thousands of jobs behind one busy lock), the heads are looked
--     up lock by lock instead (one probe per lock with waiting jobs);
--   scheduled: scheduled_at set (procrastinate_jobs_scheduled_idx_v1 and its
--     per-queue twin), walked from the earliest due, within a window: jobs
--     scheduled for later are never read. When more jobs are due than the
--     window holds, those due first are considered first.
-- A queue filter, or paused queues, walk each served queue's own index (a
-- LATERAL per queue) and merge the walks. The candidates, a few more than
-- p_limit in case concurrent claims take some, are then checked again,
-- locked (SKIP LOCKED) and claimed in one statement.
--
-- Concurrency limits (59_limits.sql) are applied between the two: skipped
-- entirely when procrastinate_limits is empty. p_slots is how many of the
-- jobs the worker starts at once (the rest waits in its prefetch buffer):
-- a job under a limit is claimed only among the first p_slots, never to
-- wait in a buffer holding a slot of its limit (null: p_limit).
--
-- Timeouts: a job deferred with a timeout gets its deadline in the same
-- update that claims it (the claim's time plus the timeout, on the
-- database's clock), returned with it as deadline and timeout; the worker
-- stops the run then, and the rescue takes back a run still going past it
-- (65_rescue.sql). Like a job under a limit, a job with a timeout is
-- claimed only among the first p_slots, never to wait in the worker's
-- buffer while its deadline runs. A job without a timeout costs nothing
-- more: its deadline stays null, and procrastinate_jobs_deadline_idx_v1 gets
-- no entry.
create function procrastinate_fetch_jobs_v5(
    p_worker_id bigint,
    p_queues text[],
    p_limit integer,
    p_claim_token uuid default null,
    p_resume boolean default false,
    p_now timestamptz default null,
    p_slots integer default null
)
returns table (
    id bigint,
    queue_name text,
    task_name text,
    priority integer,
    lock text,
    queueing_lock text,
    args jsonb,
    status procrastinate_job_status,
    scheduled_at timestamptz,
    attempts integer,
    abort_requested boolean,
    worker_id bigint,
    store_result boolean,
    parents bigint[],
    headers jsonb,
    waited double precision,
    timeout double precision,
    deadline timestamptz
)
language plpgsql
-- Lets a worker role claim jobs without any right on the tables.
security definer
set search_path = pg_catalog, public, pg_temp
-- A queue table's statistics are often stale (it fills and drains faster than
-- autoanalyze runs): whatever they say, the claim walks its indexes in order
-- (no sequential or bitmap scan, which would read every waiting job), and is
-- cheap enough that JIT compilation would only add to its cost.
set jit = off
-- The plans are the same whatever the arguments: planned once per session.
set plan_cache_mode = force_generic_plan
set enable_bitmapscan = off
set enable_seqscan = off
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_resumed integer := 0;
    v_paused text[];
    -- the index keys (md5) of the queues to walk one by one; null: walk the
    -- indexes of all queues at once
    v_keys text[];
    -- candidates sought per walk: p_limit, plus room for jobs that a
    -- concurrent claim locks first
    v_wanted integer;
    -- rows of locked or scheduled jobs a walk reads at most
    v_window integer;
    v_ready bigint[];
    v_locked bigint[];
    v_scheduled bigint[];
    v_heads bigint[] := '{}'::bigint[];
    -- check again that the lock of each candidate is free (see the end)
    v_recheck_locks boolean := false;
    -- concurrency limits exist (59_limits.sql); v_limited: the candidates
    -- started under one, to be marked so
    v_limits boolean;
    v_limited bigint[] := '{}'::bigint[];
    -- how many of the jobs claimed now start at once (the rest waits in the
    -- worker's buffer)
    v_slots integer;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if p_limit is null or p_limit < 1 then
        raise exception 'p_limit must be a positive number of jobs, got %', p_limit
            using errcode = 'PT001';
    end if;
    perform _procrastinate_check_worker(p_worker_id);
    -- a sign of life: renews the worker's lease (58_leases.sql)
    perform _procrastinate_renew_lease(p_worker_id, v_now, true);

    if p_resume and p_claim_token is not null then
        return query
        select
            j.id, j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock,
            j.args, j.status, j.scheduled_at, j.attempts, j.abort_requested,
            j.worker_id, j.store_result, j.parents, j.headers,
            extract(
                epoch from j.started_at - greatest(j.scheduled_at, j.created_at)
            )::double precision,
            j.timeout, j.deadline
        from procrastinate_jobs as j
        where
            j.worker_id = p_worker_id
            and j.status = 'doing'
            and j.claim_token = p_claim_token
        order by j.priority desc, j.id asc;
        get diagnostics v_resumed = row_count;
        if v_resumed >= p_limit then
            return;
        end if;
    end if;
    v_slots := least(coalesce(p_slots, p_limit), p_limit) - v_resumed;
    v_wanted := p_limit + 16;
    v_window := 2 * v_wanted + 32;

    select coalesce(array_agg(p.queue_name), '{}') into v_paused
    from procrastinate_paused_queues as p;

    -- Limits: queues at their limit are not walked, as if paused (the
    -- candidates are checked under lock below).
    v_limits := exists (select 1 from procrastinate_limits);
    if v_limits then
        v_paused := v_paused || _procrastinate_full_queues();
    end if;

    if p_queues is not null then
        v_keys := array(
            select distinct md5(q.name)
            from unnest(p_queues) as q (name)
            where q.name <> all(v_paused)
        );
    elsif v_paused <> '{}' then
        -- every queue with waiting jobs, found by skipping from one key of
        -- the per-queue indexes to the next (one probe per queue)
        v_keys := array(
            with recursive ready (k) as (
                (
                    select md5(j.queue_name) from procrastinate_jobs as j
                    where j.status = 'todo' and j.scheduled_at is null and j.lock is null
                    order by md5(j.queue_name) limit 1
                )
                union all
                select (
                    select md5(j.queue_name) from procrastinate_jobs as j
                    where
                        j.status = 'todo' and j.scheduled_at is null and j.lock is null
                        and md5(j.queue_name) > r.k
                    order by md5(j.queue_name) limit 1
                )
                from ready as r where r.k is not null
            ),

            locked (k) as (
                (
                    select md5(j.queue_name) from procrastinate_jobs as j
                    where j.status = 'todo' and j.scheduled_at is null and j.lock is not null
                    order by md5(j.queue_name) limit 1
                )
                union all
                select (
                    select md5(j.queue_name) from procrastinate_jobs as j
                    where
                        j.status = 'todo' and j.scheduled_at is null and j.lock is not null
                        and md5(j.queue_name) > l.k
                    order by md5(j.queue_name) limit 1
                )
                from locked as l where l.k is not null
            ),

            scheduled (k) as (
                (
                    select md5(j.queue_name) from procrastinate_jobs as j
                    where j.status = 'todo' and j.scheduled_at is not null
                    order by md5(j.queue_name) limit 1
                )
                union all
                select (
                    select md5(j.queue_name) from procrastinate_jobs as j
                    where
                        j.status = 'todo' and j.scheduled_at is not null
                        and md5(j.queue_name) > s.k
                    order by md5(j.queue_name) limit 1
                )
                from scheduled as s where s.k is not null
            )

            select r.k from ready as r where r.k is not null
            union
            select l.k from locked as l where l.k is not null
            union
            select s.k from scheduled as s where s.k is not null
            except
            select md5(p.name) from unnest(v_paused) as p (name)
        );
    end if;

    if v_keys is null then
        v_ready := array(
            select j.id
            from procrastinate_jobs as j
            where j.status = 'todo' and j.scheduled_at is null and j.lock is null
            order by j.priority desc, j.id asc
            limit v_wanted
        );

        -- a locked job is claimable at the head of its lock only, while no
        -- job of the lock runs. The window is the start of the walk of every
        -- waiting job not scheduled: the first row of each lock in it has
        -- no such job ranked before it, only perhaps a scheduled one (one
        -- probe of procrastinate_jobs_scheduled_lock_order_idx_v1, usually
        -- its root page). Whether the lock runs is one probe of
        -- procrastinate_jobs_lock_idx_v1 (a scalar subquery: the planner
        -- would turn a NOT EXISTS into a join that reads every running job
        -- for each row). The probes go in claim order (offset 0 keeps them
        -- above the sort) and stop once enough heads are found.
        v_locked := array(
            select h.id
            from (
                select w.id, w.lock, w.priority
                from (
                    select
                        j.id, j.lock, j.priority,
                        row_number() over (
                            partition by j.lock order by j.priority desc, j.id asc
                        ) as rank_in_lock
                    from (
                        select j.id, j.lock, j.priority
                        from procrastinate_jobs as j
                        where j.status = 'todo' and j.scheduled_at is null and j.lock is not null
                        order by j.priority desc, j.id asc
                        limit v_window
                    ) as j
                ) as w
                where w.rank_in_lock = 1
                order by w.priority desc, w.id asc
                offset 0
            ) as h
            where
                (
                    select o.id from procrastinate_jobs as o
                    where md5(o.lock) = md5(h.lock) and o.lock = h.lock and o.status = 'doing'
                    limit 1
                ) is null
                and not coalesce((
                    select o.priority > h.priority or (o.priority = h.priority and o.id < h.id)
                    from procrastinate_jobs as o
                    where
                        md5(o.lock) = md5(h.lock) and o.lock = h.lock
                        and o.status = 'todo' and o.scheduled_at is not null
                    order by o.priority desc, o.id asc
                    limit 1
                ), false)
            limit v_wanted
        );

        v_scheduled := array(
            select w.id
            from (
                select j.id, j.lock, j.priority
                from procrastinate_jobs as j
                where j.status = 'todo' and j.scheduled_at is not null and j.scheduled_at <= v_now
                order by j.scheduled_at asc
                limit v_window
            ) as w
            where
                w.lock is null
                or (
                    (
                        select o.id from procrastinate_jobs as o
                        where
                            md5(o.lock) = md5(w.lock) and o.lock = w.lock
                            and o.status = 'todo'
                        order by o.priority desc, o.id asc
                        limit 1
                    ) = w.id
                    and (
                        select o.id from procrastinate_jobs as o
                        where md5(o.lock) = md5(w.lock) and o.lock = w.lock and o.status = 'doing'
                        limit 1
                    ) is null
                )
            limit v_wanted
        );
    else
        v_ready := array(
            select r.id
            from unnest(v_keys) as q (k)
            cross join lateral (
                select j.id, j.priority
                from procrastinate_jobs as j
                where
                    md5(j.queue_name) = q.k
                    and j.status = 'todo' and j.scheduled_at is null and j.lock is null
                    and (p_queues is null or j.queue_name = any(p_queues))
                    and j.queue_name <> all(v_paused)
                order by j.priority desc, j.id asc
                limit v_wanted
            ) as r
            order by r.priority desc, r.id asc
            limit v_wanted
        );

        v_locked := array(
            select w.id
            from unnest(v_keys) as q (k)
            cross join lateral (
                select
                    j.id, j.lock, j.priority, j.queue_name,
                    lag(j.lock) over (order by j.priority desc, j.id asc) as previous_lock
                from procrastinate_jobs as j
                where
                    md5(j.queue_name) = q.k
                    and j.status = 'todo' and j.scheduled_at is null and j.lock is not null
                order by j.priority desc, j.id asc
                limit v_window
            ) as w
            where
                (p_queues is null or w.queue_name = any(p_queues))
                and w.queue_name <> all(v_paused)
                and w.lock is distinct from w.previous_lock
                and (
                    select o.id from procrastinate_jobs as o
                    where
                        md5(o.lock) = md5(w.lock) and o.lock = w.lock
                        and o.status = 'todo'
                    order by o.priority desc, o.id asc
                    limit 1
                ) = w.id
                and (
                    select o.id from procrastinate_jobs as o
                    where md5(o.lock) = md5(w.lock) and o.lock = w.lock and o.status = 'doing'
                    limit 1
                ) is null
            limit v_wanted
        );

        v_scheduled := array(
            select w.id
            from unnest(v_keys) as q (k)
            cross join lateral (
                select j.id, j.lock, j.priority, j.queue_name
                from procrastinate_jobs as j
                where
                    md5(j.queue_name) = q.k
                    and j.status = 'todo' and j.scheduled_at is not null and j.scheduled_at <= v_now
                order by j.scheduled_at asc
                limit v_window
            ) as w
            where
                (p_queues is null or w.queue_name = any(p_queues))
                and w.queue_name <> all(v_paused)
                and (
                    w.lock is null
                    or (
                        (
                            select o.id from procrastinate_jobs as o
                            where
                                md5(o.lock) = md5(w.lock) and o.lock = w.lock
                                and o.status = 'todo'
                            order by o.priority desc, o.id asc
                            limit 1
                        ) = w.id
                        and (
                            select o.id from procrastinate_jobs as o
                            where md5(o.lock) = md5(w.lock) and o.lock = w.lock and o.status = 'doing'
                            limit 1
                        ) is null
                    )
                )
            limit v_wanted
        );
    end if;

    -- Too few heads in the windows, and more locked jobs than the windows
    -- hold: look at the head of each lock with waiting jobs instead, skipping
    -- from one lock to the next in procrastinate_jobs_lock_order_idx_v2.
    if
        cardinality(v_locked) + cardinality(v_scheduled) < v_wanted
        and (
            exists (
                select 1 from procrastinate_jobs as j
                where j.status = 'todo' and j.scheduled_at is null and j.lock is not null
                order by j.priority desc, j.id asc
                offset v_window - 1
            )
            or exists (
                select 1 from procrastinate_jobs as j
                where j.status = 'todo' and j.scheduled_at is not null and j.scheduled_at <= v_now
                order by j.scheduled_at asc
                offset v_window - 1
            )
        )
    then
        v_heads := array(
            with recursive live_lock (k) as (
                (
                    select md5(j.lock) from procrastinate_jobs as j
                    where j.status = 'todo' and j.lock is not null
                    order by md5(j.lock) limit 1
                )
                union all
                select (
                    select md5(j.lock) from procrastinate_jobs as j
                    where
                        j.status = 'todo' and j.lock is not null
                        and md5(j.lock) > l.k
                    order by md5(j.lock) limit 1
                )
                from live_lock as l where l.k is not null
            )

            select h.id
            from live_lock as l
            cross join lateral (
                select j.id, j.priority, j.lock, j.scheduled_at, j.queue_name
                from procrastinate_jobs as j
                where md5(j.lock) = l.k and j.status = 'todo' and j.lock is not null
                order by j.priority desc, j.id asc
                limit 1
            ) as h
            where
                l.k is not null
                and (h.scheduled_at is null or h.scheduled_at <= v_now)
                and (
                    select o.id from procrastinate_jobs as o
                    where md5(o.lock) = l.k and o.lock = h.lock and o.status = 'doing'
                    limit 1
                ) is null
                and (p_queues is null or h.queue_name = any(p_queues))
                and h.queue_name <> all(v_paused)
            order by h.priority desc, h.id asc
            limit v_wanted
        );
    end if;

    -- Limits: keep the candidates that fit, under the locks of their limits
    -- (held until this claim commits), with jobs further back in place of
    -- those a full limit holds back. Without limits, nothing to do.
    if v_limits then
        v_heads := v_heads || _procrastinate_candidates_past_full_limits(
            v_ready || v_locked || v_scheduled || v_heads, p_queues, v_paused, v_wanted
        );
        select c.allowed, c.limited into v_ready, v_limited
        from _procrastinate_limit_candidates(
            v_ready || v_locked || v_scheduled || v_heads,
            v_slots
        ) as c;
        v_locked := '{}';
        v_scheduled := '{}';
        v_heads := '{}';
    end if;

    -- The walks took heads of free locks only. Another claim can take one of
    -- those locks before this statement only by claiming a job of the lock
    -- ranked before our head, which a defer or an operator's retry made
    -- meanwhile (it could as well have come a moment later): the claim then
    -- fails on procrastinate_jobs_lock_idx_v1 (no two running jobs of a
    -- lock), and is made again checking each lock (one probe of that index
    -- per candidate with a lock: a fifth of the cost of a claim of locked
    -- jobs, not paid when no claim races). The sort below consumes the whole
    -- update before a row is returned: a failed claim returned nothing.
    loop
        begin
            return query
            with candidate as (
                select j.id, j.priority, j.timeout
                from procrastinate_jobs as j
                where
                    j.id = any(v_ready || v_locked || v_scheduled || v_heads)
                    and j.status = 'todo'
                    and (p_queues is null or j.queue_name = any(p_queues))
                    and j.queue_name <> all(v_paused)
                    and (j.scheduled_at is null or j.scheduled_at <= v_now)
                    -- checked again only after a race (see above the loop)
                    and (
                        j.lock is null
                        or not v_recheck_locks
                        or not exists (
                            select 1
                            from procrastinate_jobs as other
                            where
                                md5(other.lock) = md5(j.lock)
                                and other.lock = j.lock
                                and other.status = 'doing'
                        )
                    )
                order by j.priority desc, j.id asc
                limit p_limit - v_resumed
                for update of j skip locked
            ),

            -- A job with a timeout is claimed only among the first p_slots,
            -- the jobs the worker starts at once: its deadline, counted from
            -- this claim, never runs while it waits in the worker's buffer.
            starting as (
                select c.id
                from (
                    select
                        c.id, c.timeout,
                        row_number() over (order by c.priority desc, c.id asc) as rank
                    from candidate as c
                ) as c
                where c.timeout is null or c.rank <= v_slots
            ),

            claimed as (
                update procrastinate_jobs as j
                set
                    status = 'doing',
                    worker_id = p_worker_id,
                    started_at = v_now,
                    claim_token = p_claim_token,
                    -- counted by its limits while it runs (59_limits.sql)
                    limited = j.limited or j.id = any(v_limited),
                    -- null without a timeout
                    deadline = v_now + make_interval(secs => j.timeout)
                from starting
                where j.id = starting.id
                returning
                    j.id, j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock,
                    j.args, j.status, j.scheduled_at, j.attempts, j.abort_requested,
                    j.worker_id, j.store_result, j.parents, j.headers,
                    extract(
                        epoch from v_now - greatest(j.scheduled_at, j.created_at)
                    )::double precision,
                    j.timeout, j.deadline
            )

            select c.*
            from claimed as c
            order by c.priority desc, c.id asc;
            exit;
        exception when unique_violation then
            if v_recheck_locks then
                raise;
            end if;
            v_recheck_locks := true;
        end;
    end loop;
end;
$$;

-- The claim of drivers older than job timeouts (procrastinate_fetch_jobs_v5
-- without its last two columns): workers of the previous release keep
-- working while the schema is upgraded under them.
create or replace function procrastinate_fetch_jobs_v4(
    p_worker_id bigint,
    p_queues text[],
    p_limit integer,
    p_claim_token uuid default null,
    p_resume boolean default false,
    p_now timestamptz default null,
    p_slots integer default null
)
returns table (
    id bigint,
    queue_name text,
    task_name text,
    priority integer,
    lock text,
    queueing_lock text,
    args jsonb,
    status procrastinate_job_status,
    scheduled_at timestamptz,
    attempts integer,
    abort_requested boolean,
    worker_id bigint,
    store_result boolean,
    parents bigint[],
    headers jsonb,
    waited double precision
)
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    select
        f.id, f.queue_name, f.task_name, f.priority, f.lock, f.queueing_lock, f.args,
        f.status, f.scheduled_at, f.attempts, f.abort_requested, f.worker_id,
        f.store_result, f.parents, f.headers, f.waited
    from procrastinate_fetch_jobs_v5(
        p_worker_id, p_queues, p_limit, p_claim_token, p_resume, p_now, p_slots
    ) as f;
$$;

-- The claim of drivers older than job headers (procrastinate_fetch_jobs_v5
-- without its last four columns): workers of two releases ago keep
-- working while the schema is upgraded under them.
create or replace function procrastinate_fetch_jobs_v3(
    p_worker_id bigint,
    p_queues text[],
    p_limit integer,
    p_claim_token uuid default null,
    p_resume boolean default false,
    p_now timestamptz default null
)
returns table (
    id bigint,
    queue_name text,
    task_name text,
    priority integer,
    lock text,
    queueing_lock text,
    args jsonb,
    status procrastinate_job_status,
    scheduled_at timestamptz,
    attempts integer,
    abort_requested boolean,
    worker_id bigint,
    store_result boolean,
    parents bigint[]
)
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    select
        f.id, f.queue_name, f.task_name, f.priority, f.lock, f.queueing_lock, f.args,
        f.status, f.scheduled_at, f.attempts, f.abort_requested, f.worker_id,
        f.store_result, f.parents
    from procrastinate_fetch_jobs_v5(
        p_worker_id, p_queues, p_limit, p_claim_token, p_resume, p_now
    ) as f;
$$;

-- The claim of drivers older than stored results (procrastinate_fetch_jobs_v5
-- without its last six columns, as procrastinate_fetch_jobs_v3 without its
-- last two): workers of three releases ago keep working while the schema is
-- upgraded under them.
create or replace function procrastinate_fetch_jobs_v2(
    p_worker_id bigint,
    p_queues text[],
    p_limit integer,
    p_claim_token uuid default null,
    p_resume boolean default false,
    p_now timestamptz default null
)
returns table (
    id bigint,
    queue_name text,
    task_name text,
    priority integer,
    lock text,
    queueing_lock text,
    args jsonb,
    status procrastinate_job_status,
    scheduled_at timestamptz,
    attempts integer,
    abort_requested boolean,
    worker_id bigint
)
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    select
        f.id, f.queue_name, f.task_name, f.priority, f.lock, f.queueing_lock, f.args,
        f.status, f.scheduled_at, f.attempts, f.abort_requested, f.worker_id
    from procrastinate_fetch_jobs_v5(
        p_worker_id, p_queues, p_limit, p_claim_token, p_resume, p_now
    ) as f;
$$;

-- The grace after a job's deadline before the rescue takes it back: the
-- time its worker has to stop the run at the deadline and report it.
create function _procrastinate_timeout_grace()
returns interval
language sql
immutable
set search_path = pg_catalog, public, pg_temp
as $$
    select interval '10 seconds';
$$;

-- Takes back the jobs of workers whose lease ran out (see
-- _procrastinate_take_back_jobs for what becomes of them).
-- The caller (p_worker_id) may rescue unless its own lease ran out less than
-- a lease ago: after an outage that cut every worker off, the live ones get a
-- lease to renew theirs before anyone takes their jobs. A worker whose lease
-- never ran out since it registered may rescue at once (a worker started
-- after another died takes the dead one's jobs). A trusted session (an
-- operator, when no worker is alive) may call it with a null p_worker_id.
-- Jobs past their deadline and the grace are taken back too, from live
-- workers as well (one walk of procrastinate_jobs_deadline_idx_v1, which
-- holds the running jobs with a timeout only). Dead workers holding no more
-- jobs are removed. Returns the rescued jobs.
create or replace function procrastinate_rescue_stalled_jobs_v2(
    p_worker_id bigint,
    p_now timestamptz default null
)
returns table (job_id bigint, status procrastinate_job_status)
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_silent bigint[];
    v_stalled bigint[];
    v_overdue bigint[];
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if p_worker_id is null then
        if not _procrastinate_trusted() then
            raise exception 'only the owner of the queue or an operator may rescue without a worker id'
                using errcode = '42501';
        end if;
    else
        perform _procrastinate_check_worker(p_worker_id);
        if not exists (
            select 1
            from procrastinate_workers as w
            where
                w.id = p_worker_id
                and (
                    coalesce(w.alive_since, w.started_at) <= w.started_at
                    or w.alive_since <= v_now - _procrastinate_lease(w.stalled_after)
                )
        ) then
            return;
        end if;
    end if;

    v_silent := array(
        select w.id
        from procrastinate_workers as w
        where _procrastinate_lease_expired(w.last_heartbeat, w.stalled_after, v_now)
    );
    -- held by a silent worker, or by one whose row is gone altogether
    v_stalled := array(
        select j.id
        from procrastinate_jobs as j
        left join procrastinate_workers as w on j.worker_id = w.id
        where
            j.status = 'doing'
            and j.worker_id is not null
            and (w.id is null or w.id = any(v_silent))
        order by j.id
        for update of j skip locked
    );
    return query
    select t.job_id, t.status
    from _procrastinate_take_back_jobs(
        v_stalled, v_now, 'stopped heartbeating while running this job', 'WorkerStalled'
    ) as t;

    -- still running past their deadline (those just taken back are todo now)
    v_overdue := array(
        select j.id
        from procrastinate_jobs as j
        where
            j.status = 'doing'
            and j.deadline is not null
            and j.deadline < v_now - _procrastinate_timeout_grace()
        order by j.id
        for update of j skip locked
    );
    if v_overdue <> '{}' then
        return query
        select t.job_id, t.status
        from _procrastinate_take_back_jobs(
            v_overdue, v_now, 'did not end this job by its deadline (its timeout)',
            'procrastinate.exceptions.JobTimeout'
        ) as t;
    end if;

    delete from procrastinate_workers as w
    where
        w.id = any(v_silent)
        and not exists (
            select 1
            from procrastinate_jobs as j
            where j.worker_id = w.id and j.status = 'doing'
        );
end;
$$;

-- Running jobs past their deadline (a timeout given at defer): through
-- procrastinate_jobs_deadline_idx_v1, so it reads the running jobs with a
-- timeout only.
create view procrastinate_overdue_jobs as
select
    j.id,
    j.queue_name,
    j.task_name,
    j.worker_id,
    j.started_at,
    j.timeout,
    j.deadline,
    now() - j.deadline as overdue_by,
    -- the grace of _procrastinate_timeout_grace (not called here: the
    -- reader and operator roles may not call helpers)
    j.deadline + interval '10 seconds' as rescued_after,
    j.attempts
from procrastinate_jobs as j
where j.status = 'doing' and j.deadline is not null and j.deadline < now();

comment on view procrastinate_overdue_jobs is
'Running jobs past their deadline: the time of their claim plus their timeout (seconds, given
at defer: @app.task(timeout=...), configure(timeout=...), procrastinate_defer_job(timeout =>
...)). Their worker stops them at the deadline; one that is still running after rescued_after
(the deadline plus 10 s) is taken back by the next rescue, whether its worker is alive or not,
and its worker''s late report is refused.';

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
    -- concurrency limits (59_limits.sql)
    ('doing', 'doing', '_procrastinate_set_limit', 'kept (marked limited: a limit was set)')
) as t (from_status, to_status, function_name, attempts);

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
    text, text, double precision
    ),
    procrastinate_fetch_jobs_v5(bigint, text[], integer, uuid, boolean, timestamptz, integer),
    _procrastinate_timeout_grace()
    from public;
    grant execute on function
    procrastinate_defer_job(
    text, jsonb, text, integer, text, text, timestamptz, integer,
    double precision, double precision, double precision, text[], integer, boolean, bigint[],
    text, text, double precision
    )
    to procrastinate_producer;
    grant execute on function
    procrastinate_fetch_jobs_v5(bigint, text[], integer, uuid, boolean, timestamptz, integer)
    to procrastinate_worker;
    grant execute on function
    procrastinate_defer_job(
    text, jsonb, text, integer, text, text, timestamptz, integer,
    double precision, double precision, double precision, text[], integer, boolean, bigint[],
    text, text, double precision
    ),
    procrastinate_fetch_jobs_v5(bigint, text[], integer, uuid, boolean, timestamptz, integer)
    to procrastinate_operator;
    grant select on procrastinate_overdue_jobs to procrastinate_operator;
    if to_regrole('procrastinate_reader') is not null then
        grant select on procrastinate_overdue_jobs to procrastinate_reader;
    end if;
end;
$$;
