-- Views for the person on call: what waits, what runs, what failed, who is
-- alive. Each is documented with comment on view, so \d+ explains it.
-- A worker counts as alive while its last heartbeat is younger than its
-- lease: its own stalled_after, or procrastinate_settings.stalled_worker_timeout
-- (the rule procrastinate_rescue_stalled_jobs_v2 applies).

create view procrastinate_queue_stats as
with queues as (
    select j.queue_name from procrastinate_jobs as j
    union
    select p.queue_name from procrastinate_paused_queues as p
)

select
    q.queue_name,
    count(j.id) filter (where j.status = 'todo') as todo,
    count(j.id) filter (where j.status = 'doing') as doing,
    count(j.id) filter (where j.status = 'succeeded') as succeeded,
    count(j.id) filter (where j.status = 'failed') as failed,
    count(j.id) filter (where j.status = 'cancelled') as cancelled,
    count(j.id) filter (where j.status = 'aborted') as aborted,
    count(j.id) filter (
        where j.status = 'todo' and (j.scheduled_at is null or j.scheduled_at <= now())
    ) as runnable,
    -- greatest() skips nulls: a job waits since it was created or scheduled
    now() - min(greatest(j.scheduled_at, j.created_at)) filter (
        where j.status = 'todo' and (j.scheduled_at is null or j.scheduled_at <= now())
    ) as oldest_waiting_age,
    p.queue_name is not null as paused
from queues as q
left join procrastinate_jobs as j on q.queue_name = j.queue_name
left join procrastinate_paused_queues as p on q.queue_name = p.queue_name
group by q.queue_name, p.queue_name;

comment on view procrastinate_queue_stats is
'One row per queue: jobs per status, how many are runnable now, the age of the oldest runnable
waiting job (how far behind the queue is), and whether the queue is paused
(procrastinate_pause_queue).';

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
    w.last_heartbeat >= now() - make_interval(
        secs => coalesce(w.stalled_after, s.stalled_worker_timeout)
    ) as alive
from procrastinate_workers as w
cross join procrastinate_settings as s
left join procrastinate_jobs as j on j.worker_id = w.id and j.status = 'doing'
group by w.id, s.stalled_worker_timeout;

comment on view procrastinate_worker_stats is
'One row per registered worker: name, host, pid, queues (null: all), concurrency, jobs it
runs now, last heartbeat, and whether it is alive (heartbeat younger than its lease: the
stalled_after it registered with, else procrastinate_settings.stalled_worker_timeout, 30 s by
default). Dead workers'' jobs are rescued by the live ones.';

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
cross join procrastinate_settings as s
left join procrastinate_workers as w on j.worker_id = w.id
where
    j.status = 'doing'
    and (
        w.id is null
        or w.last_heartbeat < now() - make_interval(
            secs => coalesce(w.stalled_after, s.stalled_worker_timeout)
        )
    );

comment on view procrastinate_stalled_jobs is
'Running jobs whose worker is gone or silent for longer than its lease (see
procrastinate_worker_stats). Live workers rescue them on their next heartbeat; jobs
with no worker_id (fetched anonymously) are listed but never rescued automatically.';
