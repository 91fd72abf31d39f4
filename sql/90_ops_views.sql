-- Views for the person on call: what waits, what runs, what failed, who is
-- alive. Each is documented with comment on view, so \d+ explains it.
-- A worker counts as alive while its lease runs (58_leases.sql: a lease's
-- length after its last heartbeat, fetch or finish; the rule
-- procrastinate_rescue_stalled_jobs_v2 applies).

-- One pass over the jobs (the paused queues joined to its result, not to
-- every job): about 0.2 s on a million jobs where the union and join of every
-- job took 1.3 to 2.4 s. Exact counts of finished jobs cost a read of every
-- one of them; procrastinate_queue_backlog below reads only the waiting and
-- running ones.
create view procrastinate_queue_stats as
with counts as (
    select
        j.queue_name,
        count(*) filter (where j.status = 'todo') as todo,
        count(*) filter (where j.status = 'doing') as doing,
        count(*) filter (where j.status = 'succeeded') as succeeded,
        count(*) filter (where j.status = 'failed') as failed,
        count(*) filter (where j.status = 'cancelled') as cancelled,
        count(*) filter (where j.status = 'aborted') as aborted,
        count(*) filter (
            where j.status = 'todo' and (j.scheduled_at is null or j.scheduled_at <= now())
        ) as runnable,
        -- greatest() skips nulls: a job waits since it was created or scheduled
        now() - min(greatest(j.scheduled_at, j.created_at)) filter (
            where j.status = 'todo' and (j.scheduled_at is null or j.scheduled_at <= now())
        ) as oldest_waiting_age
    from procrastinate_jobs as j
    group by j.queue_name
)

select
    coalesce(c.queue_name, p.queue_name) as queue_name,
    coalesce(c.todo, 0) as todo,
    coalesce(c.doing, 0) as doing,
    coalesce(c.succeeded, 0) as succeeded,
    coalesce(c.failed, 0) as failed,
    coalesce(c.cancelled, 0) as cancelled,
    coalesce(c.aborted, 0) as aborted,
    coalesce(c.runnable, 0) as runnable,
    c.oldest_waiting_age,
    p.queue_name is not null as paused
from counts as c
full join procrastinate_paused_queues as p on c.queue_name = p.queue_name;

comment on view procrastinate_queue_stats is
'One row per queue: jobs per status, how many are runnable now, the age of the oldest runnable
waiting job (how far behind the queue is), and whether the queue is paused
(procrastinate_pause_queue).';

-- The live part of procrastinate_queue_stats, for big tables: it reads the
-- waiting and running jobs only, through the partial indexes of the claim
-- and of running jobs (one bitmap scan of each), never the finished ones:
-- about 50 ms with 100,000 waiting among a million jobs. Its cost grows with
-- the waiting jobs, not with the history. A running job is one held by a
-- worker or under a lock (a job fetched without worker id and without lock
-- is not counted: no index holds those).
create view procrastinate_queue_backlog as
with live as (
    select
        j.queue_name,
        count(*) filter (where j.status = 'todo') as todo,
        count(*) filter (where j.status = 'doing') as doing,
        count(*) filter (
            where j.status = 'todo' and (j.scheduled_at is null or j.scheduled_at <= now())
        ) as runnable,
        count(*) filter (where j.status = 'todo' and j.scheduled_at > now()) as scheduled,
        now() - min(greatest(j.scheduled_at, j.created_at)) filter (
            where j.status = 'todo' and (j.scheduled_at is null or j.scheduled_at <= now())
        ) as oldest_waiting_age
    from procrastinate_jobs as j
    -- each arm is the predicate of a partial index
    where
        (j.status = 'todo' and j.scheduled_at is null and j.lock is null)
        or (j.status = 'todo' and j.scheduled_at is null and j.lock is not null)
        or (j.status = 'todo' and j.scheduled_at is not null)
        or (j.status = 'doing' and j.worker_id is not null)
        or (j.status = 'doing' and j.lock is not null)
    group by j.queue_name
)

select
    coalesce(l.queue_name, p.queue_name) as queue_name,
    coalesce(l.todo, 0) as todo,
    coalesce(l.doing, 0) as doing,
    coalesce(l.runnable, 0) as runnable,
    coalesce(l.scheduled, 0) as scheduled,
    l.oldest_waiting_age,
    p.queue_name is not null as paused
from live as l
full join procrastinate_paused_queues as p on l.queue_name = p.queue_name;

comment on view procrastinate_queue_backlog is
'One row per queue with waiting or running jobs (or paused): jobs waiting (todo), running
(doing), runnable now, scheduled for later, the age of the oldest runnable waiting job, and
whether the queue is paused. The cheap part of procrastinate_queue_stats: it never reads
finished jobs, so it stays fast on a table holding millions of them.';

create view procrastinate_task_stats as
select
    j.task_name,
    count(*) filter (where j.status = 'todo') as todo,
    count(*) filter (where j.status = 'doing') as doing,
    count(*) filter (where j.status = 'succeeded') as succeeded,
    count(*) filter (where j.status = 'failed') as failed,
    count(*) filter (where j.status = 'cancelled') as cancelled,
    count(*) filter (where j.status = 'aborted') as aborted,
    avg(j.finished_at - j.started_at) filter (where j.status = 'succeeded') as avg_duration,
    max(j.finished_at) filter (where j.status = 'failed') as last_failure_at
from procrastinate_jobs as j
group by j.task_name;

comment on view procrastinate_task_stats is
'One row per task name: jobs per status, the average run time of succeeded jobs and when the
task last failed.';

create view procrastinate_lock_stats as
select
    j.lock,
    count(*) filter (where j.status = 'todo') as waiting,
    max(j.id) filter (where j.status = 'doing') as running_job_id,
    min(j.id) filter (where j.status = 'todo') as next_job_id,
    min(j.created_at) filter (where j.status = 'todo') as oldest_waiting_since
from procrastinate_jobs as j
where j.lock is not null and j.status in ('todo', 'doing')
group by j.lock;

comment on view procrastinate_lock_stats is
'One row per lock held or awaited: how many jobs wait for it, the job running under it (if
any) and the oldest waiting one. A lock with waiting jobs and no running job is blocked by
its next_job_id (scheduled for later, or its queue is paused).';

-- Whether each registered worker's lease runs now: the rule of
-- _procrastinate_lease_expired (58_leases.sql) written out, for the views
-- below. A view calls functions with the rights of whoever reads it, and no
-- role may execute an internal helper: a view calling one refused the
-- operator and the reader the very views roles.sql grants them.
-- (pgTAP ops/worker_views_read_by_operator_and_reader.sql holds the two
-- forms of the rule to the same answers.)
create view _procrastinate_worker_leases as
select
    w.id,
    greatest(w.last_heartbeat, pg_postmaster_start_time())
    >= now() - make_interval(secs => coalesce(w.stalled_after, s.stalled_worker_timeout))
        as alive
from procrastinate_workers as w
cross join procrastinate_settings as s;

comment on view _procrastinate_worker_leases is
'Internal: whether each registered worker''s lease runs now (the rule of
_procrastinate_lease_expired), for procrastinate_worker_stats and procrastinate_stalled_jobs.';

create view procrastinate_worker_stats as
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
    l.alive
from procrastinate_workers as w
inner join _procrastinate_worker_leases as l on w.id = l.id
left join procrastinate_jobs as j on w.id = j.worker_id and j.status = 'doing'
group by w.id, l.alive;

comment on view procrastinate_worker_stats is
'One row per registered worker: name, host, pid, queues (null: all), concurrency, jobs it
runs now, last sign of life (heartbeat, fetch or finish), and whether it is alive (its lease
runs: last sign of life younger than the stalled_after it registered with, else
procrastinate_settings.stalled_worker_timeout, 30 s by default, and never counted from before
the server started). Dead workers'' jobs are rescued by the live ones.';

create view procrastinate_failed_jobs as
select
    j.id,
    j.queue_name,
    j.task_name,
    j.args,
    j.attempts,
    j.last_error,
    j.last_error_types,
    j.started_at,
    j.finished_at
from procrastinate_jobs as j
where j.status = 'failed';

comment on view procrastinate_failed_jobs is
'Failed jobs with their last error (message and exception class names). Retry one with
procrastinate_retry_job(id), or many with procrastinate_retry_failed_jobs(queue, task).';

create view procrastinate_stalled_jobs as
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
left join _procrastinate_worker_leases as l on w.id = l.id
where
    j.status = 'doing'
    and (w.id is null or not l.alive);

comment on view procrastinate_stalled_jobs is
'Running jobs whose worker is gone or whose lease ran out (see
procrastinate_worker_stats). Live workers rescue them on their next heartbeat; jobs
with no worker_id (fetched anonymously) are listed but never rescued automatically.';

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
