-- Ops views and retention on big tables (issue 13).
-- procrastinate_queue_stats counted every job twice (a union of every job's
-- queue, then a join of every job to it): 2.4 s on a million jobs. It is now
-- one pass over the jobs (same columns, same rows), about 0.2 s there; exact
-- counts of finished jobs cannot cost less than reading them. The new
-- procrastinate_queue_backlog reads only waiting and running jobs, through
-- the partial indexes of migration 0007: about 50 ms with 100,000 waiting
-- among a million. procrastinate_remove_old_jobs runs without JIT (a big
-- delete is estimated costly enough to compile, which cost more than a
-- bounded batch); ALTER FUNCTION, so that its body is left as it is.
-- Replacing views and a function setting takes no lock on the queue's
-- tables; the timeouts bound the wait on the catalog should anything hold it.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

-- One pass over the jobs (the paused queues joined to its result, not to
-- every job): about 0.2 s on a million jobs where the union and join of every
-- job took 1.3 to 2.4 s. Exact counts of finished jobs cost a read of every
-- one of them; procrastinate_queue_backlog below reads only the waiting and
-- running ones.
create or replace view procrastinate_queue_stats as
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

alter function procrastinate_remove_old_jobs(double precision, text, text[], integer)
set jit = off;
