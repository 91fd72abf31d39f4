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
