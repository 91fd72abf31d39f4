-- migration: no-transaction
-- Lock arbitration's index holds waiting jobs only (issue 13). With running
-- jobs in it too, a claim of a locked job added an index entry, and every
-- probe for the head of a lock stepped over two entries per finished job of
-- the lock until vacuum; the running job of a lock is found in
-- procrastinate_jobs_lock_idx_v1 instead. The claim no longer checks again
-- that each candidate heads its lock (the walk did, on a free lock; see the
-- comment in the claim). A claim of 100 jobs on 1,000 locks: 3.6 -> 2.9 ms.
-- The new index is built before the functions that rely on it are replaced,
-- the old one dropped after: old and new functions keep an index all along.
-- Built and dropped without blocking writes (CONCURRENTLY, hence no
-- transaction: each statement commits on its own). If this step fails
-- half-way, run it again: it starts by dropping what a failed run left.
-- A post migration: the code does not need it (a saving), and a pre after the
-- post migrations 0020-0026 would block the procrastinate 3.x conversion.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- Allowed (squawk), why: CONCURRENTLY waits for running transactions by
-- design and blocks neither reads nor writes; a build may take long. The
-- function replaces take no lock on the queue's tables.

drop index concurrently if exists procrastinate_jobs_lock_order_idx_v2;
-- Lock arbitration looks up the first waiting job of a lock (the running
-- one, if any, is in procrastinate_jobs_lock_idx_v1). Waiting jobs only: a
-- claim would otherwise add an entry for the job it starts, and every probe
-- would step over the entries of the lock's finished jobs twice.
create index concurrently if not exists procrastinate_jobs_lock_order_idx_v2
on procrastinate_jobs (md5(lock), priority desc, id asc)
where status = 'todo' and lock is not null;

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
--     up lock by lock instead (one probe per lock with waiting jobs);
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
        -- the lock's waiting jobs (a scalar subquery, one probe of
        -- procrastinate_jobs_lock_order_idx_v2 per row), while no job of the
        -- lock runs (one probe of procrastinate_jobs_lock_idx_v1; a scalar
        -- subquery too, as the planner would turn a NOT EXISTS into a join
        -- that reads every running job for each row).
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
            -- The walks took heads of free locks only. Between the walk and
            -- this statement, another claim may have taken the lock: checked
            -- again (procrastinate_jobs_lock_idx_v1, which also forbids two
            -- running jobs of a lock should two claims race past this check).
            -- The head need not be checked again: a job ranked before it can
            -- only come from a running job going back to the queue (there was
            -- none), a defer or an operator's retry, which could as well have
            -- come a moment later.
            and (
                j.lock is null
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
            j.worker_id
    )

    select c.*
    from claimed as c
    order by c.priority desc, c.id asc;
end;
$$;

-- After an update: wake workers for jobs back in todo and runnable now
-- (retries, manual retries), for jobs waiting on a lock that a job just
-- released, and the worker running a job whose abort was just requested.
create or replace function _procrastinate_notify_updated_jobs()
returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
-- the probe of the next job of a lock walks its index in order, whatever the
-- statistics say (a bitmap scan would read every job of the lock to sort them)
set enable_bitmapscan = off
set enable_seqscan = off
as $$
declare
    v_queues jsonb;
    v_job_ids jsonb;
begin
    -- Most updates are claims (todo -> doing) and finishes: none of the cases
    -- below can apply without one of these (5% of a fetch + finish). A lock
    -- is released only by a job leaving doing: the claim of a locked job
    -- (new status doing) needs nothing here.
    if not exists (
        select 1 from new_jobs as n
        where
            n.status = 'todo'
            or (n.lock is not null and n.status <> 'doing')
            or n.abort_requested
    ) then
        return null;
    end if;

    with changed as (
        select o.status as old_status, o.queue_name as old_queue, o.abort_requested as old_abort, n.*
        from old_jobs as o
        inner join new_jobs as n on o.id = n.id
    ),

    available as (
        select c.queue_name
        from changed as c
        where
            c.status = 'todo'
            and (c.scheduled_at is null or c.scheduled_at <= now())
            and (c.old_status <> 'todo' or c.old_queue <> c.queue_name)
        union
        -- the next job of a lock its holder just released, if it may run now:
        -- one probe of procrastinate_jobs_lock_order_idx_v2 per lock, however
        -- many jobs wait for it (reading them all made a finish cost grow
        -- with the jobs waiting behind each lock)
        select w.queue_name
        from changed as c
        cross join lateral (
            select n.queue_name, n.status, n.scheduled_at
            from procrastinate_jobs as n
            where
                md5(n.lock) = md5(c.lock)
                and n.lock = c.lock
                and n.status = 'todo'
            order by n.priority desc, n.id asc
            limit 1
        ) as w
        where
            c.old_status = 'doing'
            and c.status <> 'doing'
            and c.lock is not null
            and (w.scheduled_at is null or w.scheduled_at <= now())
    )

    select
        (select jsonb_agg(distinct a.queue_name) from available as a),
        (
            select jsonb_agg(c.id order by c.id)
            from changed as c
            where c.abort_requested and not c.old_abort
        )
    into v_queues, v_job_ids;

    if v_queues is not null then
        perform _procrastinate_notify('job_available', 'queues', v_queues);
    end if;
    if v_job_ids is not null then
        perform _procrastinate_notify('abort_requested', 'job_ids', v_job_ids);
    end if;
    return null;
end;
$$;

-- "Why is nothing running in this queue?" in one call, for psql: one row per
-- reason that holds now, most blocking first. It reads the queue's waiting
-- jobs (through the claim's partial indexes) and the workers: a diagnosis,
-- not a monitoring query to run every second on a huge backlog.
create or replace function procrastinate_why_waiting(queue_name text)
returns table (reason text, jobs bigint, job_id bigint, detail text)
language sql
stable
-- an operator role has no right on the tables
security definer
set search_path = pg_catalog, public, pg_temp
as $$
    with waiting as (
        select
            j.id, j.lock, j.scheduled_at,
            -- the first of its lock's waiting and running jobs (the claim's
            -- rule): the first waiting one or the running one, whichever
            -- ranks first
            case when j.lock is not null then (
                select h.id
                from (
                    (
                        select o.id, o.priority from procrastinate_jobs as o
                        where
                            md5(o.lock) = md5(j.lock) and o.lock = j.lock
                            and o.status = 'todo'
                        order by o.priority desc, o.id asc
                        limit 1
                    )
                    union all
                    select o.id, o.priority from procrastinate_jobs as o
                    where
                        md5(o.lock) = md5(j.lock) and o.lock = j.lock
                        and o.status = 'doing'
                ) as h
                order by h.priority desc, h.id asc
                limit 1
            ) end as head_id
        from procrastinate_jobs as j
        where j.queue_name = $1 and j.status = 'todo'
    ),

    servers as (
        select
            w.id, w.concurrency,
            not _procrastinate_lease_expired(w.last_heartbeat, w.stalled_after, now()) as alive,
            (
                select count(*) from procrastinate_jobs as r
                where r.worker_id = w.id and r.status = 'doing'
            ) as running
        from procrastinate_workers as w
        where w.queues is null or $1 = any(w.queues)
    ),

    blocked_by_lock as (
        select w.lock, count(*) as jobs, min(w.head_id) as head_id
        from waiting as w
        where w.head_id <> w.id
        group by w.lock
    ),

    runnable as (
        select w.id
        from waiting as w
        where
            (w.scheduled_at is null or w.scheduled_at <= now())
            and (w.head_id is null or w.head_id = w.id)
            and not exists (
                select 1 from procrastinate_jobs as o
                where
                    w.lock is not null and md5(o.lock) = md5(w.lock) and o.lock = w.lock
                    and o.status = 'doing'
            )
    )

    select r.reason, r.jobs, r.job_id, r.detail
    from (
        select
            1 as rank, 'paused' as reason,
            (select count(*) from waiting) as jobs, null::bigint as job_id,
            format(
                'the queue is paused since %s: procrastinate_resume_queue(%L) lets workers take its jobs',
                p.paused_at, $1
            ) as detail
        from procrastinate_paused_queues as p
        where p.queue_name = $1

        union all
        select
            2, 'no_live_worker', (select count(*) from waiting), null,
            format(
                'no live worker serves the queue (%s registered for it, none alive): start one',
                (select count(*) from servers)
            )
        where
            not exists (select 1 from servers as s where s.alive)
            and exists (select 1 from waiting)

        union all
        select
            3, 'workers_busy', (select count(*) from runnable), null,
            format(
                '%s live worker(s) serving the queue run %s jobs in %s slots',
                count(*), sum(s.running), sum(s.concurrency)
            )
        from servers as s
        where s.alive
        having
            count(*) > 0 and sum(s.running) >= sum(s.concurrency)
            and exists (select 1 from runnable)

        union all
        select
            4, 'waiting_for_lock', b.jobs, b.head_id,
            case
                when h.status = 'doing' then format(
                    'lock %L is held by job %s, running on worker %s (%s)',
                    b.lock, h.id, coalesce(hw.name, '?'),
                    case
                        when hw.id is null then 'no worker row'
                        when _procrastinate_lease_expired(hw.last_heartbeat, hw.stalled_after, now())
                            then 'dead: its jobs are rescued by a live worker'
                        else 'alive'
                    end
                )
                else format(
                    'lock %L: job %s comes first%s', b.lock, h.id,
                    case
                        when h.scheduled_at > now() then format(' and is scheduled at %s', h.scheduled_at)
                        when h.queue_name <> $1 then format(' (queue %L)', h.queue_name)
                        else ''
                    end
                )
            end
        from blocked_by_lock as b
        inner join procrastinate_jobs as h on h.id = b.head_id
        left join procrastinate_workers as hw on hw.id = h.worker_id

        union all
        select
            5, 'scheduled_later', count(*), min(w.id),
            format('next at %s', min(w.scheduled_at))
        from waiting as w
        where w.scheduled_at > now()
        having count(*) > 0

        union all
        select
            6, 'runnable', count(*), min(r.id),
            'waiting for a worker to fetch them (these jobs can run now)'
        from runnable as r
        having count(*) > 0

        union all
        select 7, 'empty', 0, null, 'no job waits in this queue'
        where not exists (select 1 from waiting)
    ) as r
    order by r.rank, r.jobs desc, r.job_id;
$$;

drop index concurrently if exists procrastinate_jobs_lock_order_idx_v1;
