-- procrastinate_why_waiting names the concurrency and rate limits that hold
-- due jobs of a queue back (issue 18): reason held_by_limit, one row per
-- limit with no room now (every slot of its concurrency in use, or less than
-- one token in its rate's bucket), saying which and until when; the jobs it
-- holds back no longer count as runnable. The other reasons keep their
-- order, ranked after it from waiting_for_lock on.
-- A function only: no table is locked or rewritten; create or replace keeps
-- its grants.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

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
            j.id, j.lock, j.scheduled_at, j.task_name, j.limit_key,
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

    -- the limits (59_limits.sql) with no room now, of the jobs of the queue:
    -- every slot of their concurrency in use, or less than one token in
    -- their rate's bucket
    full_limits as (
        select
            l.id, l.scope, l.name, l.concurrency, l.rate, l.per, f.in_use, f.tokens,
            l.refilled_at
        from procrastinate_limits as l
        cross join lateral (
            select
                (
                    select count(*) from procrastinate_jobs as r
                    where
                        r.status = 'doing'
                        and _procrastinate_limit_applies(
                            l.scope, l.name, r.queue_name, r.task_name, r.limit_key
                        )
                ) as in_use,
                _procrastinate_limit_tokens(l.rate, l.per, l.tokens, l.refilled_at, now())
                    as tokens
        ) as f
        where
            (l.scope <> 'queue' or l.name = $1)
            and (f.in_use >= l.concurrency or f.tokens < 1)
    ),

    -- due jobs a full limit holds back: one row per job and limit
    held_by_limit as (
        select w.id, l.id as limit_id
        from waiting as w
        inner join full_limits as l
            on _procrastinate_limit_applies(l.scope, l.name, $1, w.task_name, w.limit_key)
        where w.scheduled_at is null or w.scheduled_at <= now()
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
            and not exists (select 1 from held_by_limit as h where h.id = w.id)
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
            4, 'held_by_limit', count(*), min(h.id),
            case
                when l.in_use >= l.concurrency then format(
                    'the concurrency limit of %s %L is full: %s running of %s '
                    '(procrastinate_limit_stats)',
                    l.scope, l.name, l.in_use, l.concurrency
                )
                when l.rate = 0 then format(
                    'the rate limit of %s %L is 0 per %s: it holds every job back '
                    '(procrastinate_limit_stats)',
                    l.scope, l.name, l.per
                )
                else format(
                    'the rate limit of %s %L (%s per %s) has no token left: the next '
                    'in %s s (procrastinate_limit_stats)',
                    l.scope, l.name, l.rate, l.per,
                    round(((1 - l.tokens) * extract(epoch from l.per) / l.rate)::numeric, 3)
                )
            end
        from held_by_limit as h
        inner join full_limits as l on l.id = h.limit_id
        group by l.id, l.scope, l.name, l.concurrency, l.in_use, l.rate, l.per, l.tokens

        union all
        select
            5, 'waiting_for_lock', b.jobs, b.head_id,
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
            6, 'waiting_for_parents', count(*), min(w.id),
            'deferred after jobs that have not ended yet (procrastinate_job_dependencies)'
        from waiting as w
        where w.scheduled_at = _procrastinate_held_until()
        having count(*) > 0

        union all
        select
            7, 'scheduled_later', count(*), min(w.id),
            format('next at %s', min(w.scheduled_at))
        from waiting as w
        where w.scheduled_at > now() and w.scheduled_at <> _procrastinate_held_until()
        having count(*) > 0

        union all
        select
            8, 'runnable', count(*), min(r.id),
            'waiting for a worker to fetch them (these jobs can run now)'
        from runnable as r
        having count(*) > 0

        union all
        select 9, 'empty', 0, null, 'no job waits in this queue'
        where not exists (select 1 from waiting)
    ) as r
    order by r.rank, r.jobs desc, r.job_id;
$$;

comment on function procrastinate_why_waiting(text) is
'Why the jobs of a queue are not running, one row per reason that holds now, most blocking
first: paused, no_live_worker, workers_busy, held_by_limit (one row per concurrency or
rate limit with no room now that holds due jobs of the queue back: its running jobs, or when
its bucket has a token again), waiting_for_lock (one row per lock: the job
holding it and its worker, or the job that comes first), waiting_for_parents (deferred
after jobs that have not ended), scheduled_later, runnable (can run
now: a worker will fetch them), empty. jobs counts the waiting jobs the reason concerns;
job_id is an example (the lock''s holder, the next scheduled job, the oldest runnable one).';
