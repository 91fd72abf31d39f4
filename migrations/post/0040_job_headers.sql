-- Job headers (issue 19, OpenTelemetry traces): a job object may carry
-- "headers", a JSON object of strings (at most 8192 bytes) stored with the
-- job, such as the W3C trace context of its defer (traceparent,
-- tracestate); procrastinate_fetch_jobs_v4 hands them to the worker with
-- the seconds each job waited since its defer or scheduled time (the queue's
-- lag, on the database's clock), so that a run's trace links to its defer's
-- and the worker measures lag without a clock of its own.
-- A new nullable column without default (a catalog change only, under a
-- brief lock bounded by the timeouts below); the defer's validation and
-- insert learn the key (same signatures: replaced); the claim becomes
-- procrastinate_fetch_jobs_v4, and procrastinate_fetch_jobs_v3 the same claim
-- without the two new columns, for the workers of the previous release
-- (and procrastinate_fetch_jobs_v2, of the release before, calls v4
-- directly rather than through v3). Where
-- sql/optional/roles.sql is in use, v4 is the worker's and the operator's
-- and not PUBLIC's, as roles.sql would grant it (the end of this file).
-- A post migration: the previous release's workers keep working throughout.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

alter table procrastinate_jobs add column headers jsonb;

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
        'after', 'after_policy', 'headers'
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
            parents, after_policy, headers
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
            nullif(nullif(input.job -> 'headers', 'null'::jsonb), '{}'::jsonb)
        from input
        order by input.ord
        returning 1
    )

    select input.new_id from input order by input.ord;
end;
$$;

-- The claim, with the job's headers and how long it waited.
create function procrastinate_fetch_jobs_v4(
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
    parents bigint[],
    headers jsonb,
    waited double precision
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
            )::double precision
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
    v_wanted := p_limit + 16;
    v_window := 2 * v_wanted + 32;

    select coalesce(array_agg(p.queue_name), '{}') into v_paused
    from procrastinate_paused_queues as p;

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
                select j.id
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

            claimed as (
                update procrastinate_jobs as j
                set
                    status = 'doing',
                    worker_id = p_worker_id,
                    started_at = v_now,
                    claim_token = p_claim_token
                from candidate
                where j.id = candidate.id
                returning
                    j.id, j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock,
                    j.args, j.status, j.scheduled_at, j.attempts, j.abort_requested,
                    j.worker_id, j.store_result, j.parents, j.headers,
                    extract(
                        epoch from v_now - greatest(j.scheduled_at, j.created_at)
                    )::double precision
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

-- The claim of the previous release's workers: v4 without its last two columns.
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
    from procrastinate_fetch_jobs_v4(
        p_worker_id, p_queues, p_limit, p_claim_token, p_resume, p_now
    ) as f;
$$;

-- The claim of the workers of two releases ago, straight over v4.
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
    from procrastinate_fetch_jobs_v4(
        p_worker_id, p_queues, p_limit, p_claim_token, p_resume, p_now
    ) as f;
$$;

create or replace view procrastinate_job_transitions as
select
    t.from_status,
    t.to_status,
    t.function_name,
    t.attempts
from (
    values
    ('(new)', 'todo', '_procrastinate_insert_jobs', 'set to 0'),
    ('todo', 'doing', 'procrastinate_fetch_jobs_v4', 'kept'),
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
    ('doing', 'doing', '_procrastinate_link_parents', 'kept (marked a parent; any status)')
) as t (from_status, to_status, function_name, attempts);

do $$
begin
    if to_regrole('procrastinate_worker') is null then
        return;
    end if;
    revoke execute on function
    procrastinate_fetch_jobs_v4(bigint, text[], integer, uuid, boolean, timestamptz)
    from public;
    grant execute on function
    procrastinate_fetch_jobs_v4(bigint, text[], integer, uuid, boolean, timestamptz)
    to procrastinate_worker, procrastinate_operator;
end;
$$;
