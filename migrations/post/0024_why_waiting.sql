-- "Why is nothing running in queue X?" took several views: nothing said that
-- no live worker serves the queue, and a job blocked by its lock counted as
-- runnable (issue 20). procrastinate_why_waiting answers in one call.
-- A post migration: the code does not call it (an operator's tool), and a
-- pre migration after the post migrations 0020-0023 would block the
-- procrastinate 3.x conversion's pre phase.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

-- "Why is nothing running in this queue?" in one call, for psql: one row per
-- reason that holds now, most blocking first. It reads the queue's waiting
-- jobs (through the claim's partial indexes) and the workers: a diagnosis,
-- not a monitoring query to run every second on a huge backlog.
create function procrastinate_why_waiting(queue_name text)
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
            -- the first of its lock's waiting and running jobs (the claim's rule)
            case when j.lock is not null then (
                select o.id from procrastinate_jobs as o
                where
                    md5(o.lock) = md5(j.lock) and o.lock = j.lock
                    and o.status in ('todo', 'doing')
                order by o.priority desc, o.id asc
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

comment on function procrastinate_why_waiting(text) is
'Why the jobs of a queue are not running, one row per reason that holds now, most blocking
first: paused, no_live_worker, workers_busy, waiting_for_lock (one row per lock: the job
holding it and its worker, or the job that comes first), scheduled_later, runnable (can run
now: a worker will fetch them), empty. jobs counts the waiting jobs the reason concerns;
job_id is an example (the lock''s holder, the next scheduled job, the oldest runnable one).';

-- Where sql/optional/roles.sql is in use, the new function is the operator's
-- only, as every function is there (not PUBLIC's, PostgreSQL's default).
do $$
begin
    if to_regrole('procrastinate_operator') is null then
        return;
    end if;
    revoke execute on function procrastinate_why_waiting(text) from public;
    grant execute on function procrastinate_why_waiting(text) to procrastinate_operator;
end;
$$;
