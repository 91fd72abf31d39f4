-- Fetching: a worker claims up to p_limit jobs in one call.
-- Lock arbitration lives here: a job with a lock is claimable only when no
-- job sharing its lock is running and none waiting comes before it
-- (higher priority, then lower id). Waiting includes jobs scheduled for
-- later, such as a retry: jobs sharing a lock keep their order across retries.

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
create function procrastinate_fetch_jobs_v4(
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
create function procrastinate_fetch_jobs_v3(
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
create function procrastinate_fetch_jobs_v2(
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

-- User-facing fetch, for workers written in other languages: claims up to
-- max_jobs jobs. Report each one with procrastinate_finish_job.
create function procrastinate_fetch_jobs(
    queues text[] default null,
    max_jobs integer default 1,
    worker_id bigint default null
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
    select f.* from procrastinate_fetch_jobs_v2(worker_id, queues, max_jobs) as f;
$$;

comment on function procrastinate_fetch_jobs(text[], integer, bigint) is
'Claim up to max_jobs waiting jobs (status todo -> doing) from queues (null: all queues), for a
worker written in any language. Jobs come highest priority first, then oldest; jobs scheduled
for later, jobs of paused queues and jobs whose lock is busy are skipped. Concurrent callers
never get the same job (FOR UPDATE SKIP LOCKED). Report the end of each job with
procrastinate_finish_job(job_id, status, ..., worker_id => the same worker_id,
attempt => the job''s attempts as fetched).';
