-- Completes the leases of pre 0013 (issue 14). 0021 recreates the functions
-- and views that name the status type from its own copy of their text, older
-- than 0013: where 0021 ran after 0013 (a database migrated in one go), the
-- claim, the finish, the rescue and the two views that apply the lease rule
-- are replaced again here, as in sql/. Then procrastinate_heartbeat_v1,
-- superseded by procrastinate_heartbeat_v2, is dropped: run this step once no
-- worker of the previous version runs (docs/deploy.md).
-- Replacing and dropping functions takes no lock on the queue's tables.
-- squawk-ignore-file ban-drop-function
-- Allowed (squawk), why: this step exists to drop the superseded heartbeat,
-- once no worker calls it.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

-- Claims up to p_limit jobs for p_worker_id from p_queues (null: all queues),
-- highest priority first, then oldest, under the claim token p_claim_token.
-- A call retried because its answer was lost (p_resume true, same token)
-- first gets back the jobs the lost call claimed, and claims new ones only
-- up to p_limit with them. Called by the Python worker.
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
--     up lock by lock instead (one probe per live lock);
--   scheduled: scheduled_at set (procrastinate_jobs_scheduled_idx_v1 and its
--     per-queue twin), walked from the earliest due, within a window: jobs
--     scheduled for later are never read. When more jobs are due than the
--     window holds, those due first are considered first.
-- A queue filter, or paused queues, walk each served queue's own index (a
-- LATERAL per queue) and merge the walks. The candidates, a few more than
-- p_limit in case concurrent claims take some, are then checked again,
-- locked (SKIP LOCKED) and claimed in one statement.
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
    v_heads bigint[] := '{}';
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
            j.worker_id
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

        -- a locked job is claimable at the head of its lock only: first of
        -- the lock's waiting and running jobs (a scalar subquery, one index
        -- probe per row). Whether one of them runs, when it is not the head,
        -- is checked when claiming.
        v_locked := array(
            select w.id
            from (
                select j.id, j.lock, j.priority
                from procrastinate_jobs as j
                where j.status = 'todo' and j.scheduled_at is null and j.lock is not null
                order by j.priority desc, j.id asc
                limit v_window
            ) as w
            where
                (
                    select o.id from procrastinate_jobs as o
                    where
                        md5(o.lock) = md5(w.lock) and o.lock = w.lock
                        and o.status in ('todo', 'doing')
                    order by o.priority desc, o.id asc
                    limit 1
                ) = w.id
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
                            and o.status in ('todo', 'doing')
                        order by o.priority desc, o.id asc
                        limit 1
                    ) = w.id
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
                select j.id, j.lock, j.priority, j.queue_name
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
                and (
                    select o.id from procrastinate_jobs as o
                    where
                        md5(o.lock) = md5(w.lock) and o.lock = w.lock
                        and o.status in ('todo', 'doing')
                    order by o.priority desc, o.id asc
                    limit 1
                ) = w.id
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
                                and o.status in ('todo', 'doing')
                            order by o.priority desc, o.id asc
                            limit 1
                        ) = w.id
                    )
                )
            limit v_wanted
        );
    end if;

    -- Too few heads in the windows, and more locked jobs than the windows
    -- hold: look at the head of each live lock instead, skipping from one
    -- lock to the next in procrastinate_jobs_lock_order_idx_v1.
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
                    where j.status in ('todo', 'doing') and j.lock is not null
                    order by md5(j.lock) limit 1
                )
                union all
                select (
                    select md5(j.lock) from procrastinate_jobs as j
                    where
                        j.status in ('todo', 'doing') and j.lock is not null
                        and md5(j.lock) > l.k
                    order by md5(j.lock) limit 1
                )
                from live_lock as l where l.k is not null
            )

            select h.id
            from live_lock as l
            cross join lateral (
                select j.id, j.priority, j.status, j.scheduled_at, j.queue_name
                from procrastinate_jobs as j
                where md5(j.lock) = l.k and j.status in ('todo', 'doing') and j.lock is not null
                order by j.priority desc, j.id asc
                limit 1
            ) as h
            where
                l.k is not null
                and h.status = 'todo'
                and (h.scheduled_at is null or h.scheduled_at <= v_now)
                and (p_queues is null or h.queue_name = any(p_queues))
                and h.queue_name <> all(v_paused)
            order by h.priority desc, h.id asc
            limit v_wanted
        );
    end if;

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
            and (
                j.lock is null
                or (
                    -- first of its lock's waiting and running jobs (one probe
                    -- of procrastinate_jobs_lock_order_idx_v1, stopping at its
                    -- first row however many jobs share the lock)
                    (
                        select other.id
                        from procrastinate_jobs as other
                        where
                            md5(other.lock) = md5(j.lock)
                            and other.lock = j.lock
                            and other.status in ('todo', 'doing')
                        order by other.priority desc, other.id asc
                        limit 1
                    ) = j.id
                    -- and none of them runs
                    and not exists (
                        select 1
                        from procrastinate_jobs as other
                        where
                            md5(other.lock) = md5(j.lock)
                            and other.lock = j.lock
                            and other.status = 'doing'
                    )
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
            j.worker_id
    )

    select c.*
    from claimed as c
    order by c.priority desc, c.id asc;
end;
$$;

-- Applies a JSON array of outcomes ({"id", "attempt", "status", "error",
-- "interrupted", "retry", "policy"}) reported by p_worker_id; one result row
-- per outcome. Called by the Python worker (and procrastinate_finish_job).
create or replace function procrastinate_finish_jobs_v1(
    p_worker_id bigint,
    p_outcomes jsonb,
    p_delete_jobs text default 'never',
    p_now timestamptz default null
)
returns table (
    job_id bigint,
    accepted boolean,
    status procrastinate_job_status,
    scheduled_at timestamptz,
    reason text
)
language plpgsql
-- Lets a worker role report without any right on the tables.
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_problem record;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if p_delete_jobs is null or p_delete_jobs not in ('never', 'successful', 'always') then
        raise exception 'p_delete_jobs must be never, successful or always, got %',
            coalesce(p_delete_jobs, 'null')
            using errcode = 'PT001';
    end if;
    if p_outcomes is null or jsonb_typeof(p_outcomes) <> 'array' then
        raise exception 'outcomes must be a JSON array, got %',
            coalesce(jsonb_typeof(p_outcomes), 'null')
            using errcode = 'PT005';
    end if;
    perform _procrastinate_check_worker(p_worker_id);
    -- a sign of life: renews the worker's lease (58_leases.sql)
    perform _procrastinate_renew_lease(p_worker_id, v_now, true);

    select p.sqlstate, p.message into v_problem from _procrastinate_outcome_problem(p_outcomes) as p;
    if v_problem.message is not null then
        raise exception '%', v_problem.message using errcode = v_problem.sqlstate;
    end if;

    -- An exception block costs a subtransaction on every call: enter one only
    -- when a cast can fail (a retry time to parse).
    if not jsonb_path_exists(p_outcomes, 'lax $[*] ? (@.retry.at.type() == "string")') then
        return query select * from _procrastinate_apply_outcomes(
            p_worker_id, p_outcomes, p_delete_jobs, v_now
        );
        return;
    end if;
    begin
        return query select * from _procrastinate_apply_outcomes(
            p_worker_id, p_outcomes, p_delete_jobs, v_now
        );
    exception
        when invalid_datetime_format or datetime_field_overflow then
            raise exception 'malformed outcome: %', sqlerrm
                using errcode = 'PT005';
    end;
end;
$$;

-- Takes back the jobs of workers whose lease ran out. A rescued job goes back
-- to todo (its run counted as an attempt) unless this is its max_rescues-th
-- rescue or its retry policy is exhausted (then it ends failed), or its abort
-- was requested (aborted). A job with no retry policy is requeued too: a dead
-- worker is not the job's failure.
-- The caller (p_worker_id) may rescue unless its own lease ran out less than
-- a lease ago: after an outage that cut every worker off, the live ones get a
-- lease to renew theirs before anyone takes their jobs. A worker whose lease
-- never ran out since it registered may rescue at once (a worker started
-- after another died takes the dead one's jobs). A trusted session (an
-- operator, when no worker is alive) may call it with a null p_worker_id.
-- Dead workers holding no more jobs are removed. Returns the rescued jobs.
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
    v_settings procrastinate_settings;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    select s.* into v_settings from procrastinate_settings as s;
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

    return query
    with silent as (
        select w.id
        from procrastinate_workers as w
        where _procrastinate_lease_expired(w.last_heartbeat, w.stalled_after, v_now)
    ),

    -- held by a silent worker, or by one whose row is gone altogether
    stalled as (
        select j.id
        from procrastinate_jobs as j
        left join procrastinate_workers as w on j.worker_id = w.id
        where
            j.status = 'doing'
            and j.worker_id is not null
            and (w.id is null or w.id in (select s.id from silent as s))
        order by j.id
        for update of j skip locked
    ),

    rescued as (
        update procrastinate_jobs as j
        set
            status = case
                when j.abort_requested then 'aborted'
                when
                    j.rescue_count + 1 >= v_settings.max_rescues
                    or (j.max_attempts > 0 and j.attempts + 1 > j.max_attempts)
                    then 'failed'
                else 'todo'
            end::procrastinate_job_status,
            attempts = j.attempts + 1,
            rescue_count = j.rescue_count + 1,
            worker_id = null,
            claim_token = null,
            abort_requested = false,
            finished_at = case
                when j.abort_requested or j.rescue_count + 1 >= v_settings.max_rescues then v_now
                when j.max_attempts > 0 and j.attempts + 1 > j.max_attempts then v_now
            end,
            last_error = format(
                'worker %s stopped heartbeating while running this job (rescue %s of at most %s)',
                j.worker_id, j.rescue_count + 1, v_settings.max_rescues
            ),
            last_error_types = array['WorkerStalled']
        from stalled as s
        where j.id = s.id
        returning j.id, j.status
    ),

    removed as (
        delete from procrastinate_workers as w
        using silent as d
        where
            w.id = d.id
            and not exists (
                select 1
                from procrastinate_jobs as j
                where j.worker_id = w.id and j.status = 'doing'
                    and j.id not in (select r.id from rescued as r)
            )
        returning w.id
    )

    select r.id, r.status from rescued as r
    order by r.id;
end;
$$;

create or replace view procrastinate_worker_stats as
select
    w.id,
    w.name,
    w.host,
    w.pid,
    w.queues,
    w.concurrency,
    count(j.id) as running_jobs,
    w.started_at,
    w.last_heartbeat,
    not _procrastinate_lease_expired(w.last_heartbeat, w.stalled_after, now()) as alive
from procrastinate_workers as w
left join procrastinate_jobs as j on j.worker_id = w.id and j.status = 'doing'
group by w.id;

comment on view procrastinate_worker_stats is
'One row per registered worker: name, host, pid, queues (null: all), concurrency, jobs it
runs now, last sign of life (heartbeat, fetch or finish), and whether it is alive (its lease
runs: last sign of life younger than the stalled_after it registered with, else
procrastinate_settings.stalled_worker_timeout, 30 s by default, and never counted from before
the server started). Dead workers'' jobs are rescued by the live ones.';

create or replace view procrastinate_stalled_jobs as
select
    j.id,
    j.queue_name,
    j.task_name,
    j.worker_id,
    w.name as worker_name,
    w.host as worker_host,
    w.last_heartbeat,
    j.started_at,
    j.attempts,
    j.rescue_count
from procrastinate_jobs as j
left join procrastinate_workers as w on j.worker_id = w.id
where
    j.status = 'doing'
    and (
        w.id is null
        or _procrastinate_lease_expired(w.last_heartbeat, w.stalled_after, now())
    );

comment on view procrastinate_stalled_jobs is
'Running jobs whose worker is gone or whose lease ran out (see
procrastinate_worker_stats). Live workers rescue them on their next heartbeat; jobs
with no worker_id (fetched anonymously) are listed but never rescued automatically.';

drop function if exists procrastinate_heartbeat_v1(bigint, timestamptz);
