-- procrastinate_worker_stats and procrastinate_stalled_jobs answer the
-- operator and the reader, to whom sql/optional/roles.sql grants them: they
-- called the internal helper _procrastinate_lease_expired, and a view runs
-- its function calls with the rights of whoever reads it (no role executes a
-- helper), so both roles were refused. The lease rule is now the internal
-- view _procrastinate_worker_leases, which the two views join (a view reads
-- another with its owner's rights). Views only, same columns: no table is
-- locked or rewritten.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

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
    l.alive
from procrastinate_workers as w
inner join _procrastinate_worker_leases as l on w.id = l.id
left join procrastinate_jobs as j on w.id = j.worker_id and j.status = 'doing'
group by w.id, l.alive;

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
left join _procrastinate_worker_leases as l on w.id = l.id
where
    j.status = 'doing'
    and (w.id is null or not l.alive);
