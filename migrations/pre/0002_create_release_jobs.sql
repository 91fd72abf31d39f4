-- Workers claim short jobs ahead of their free slots (the prefetch buffer)
-- and give back those they never started when they stop or when an abort is
-- requested for one. Additive: a new function only, so it runs before the
-- new workers start, while the old ones keep running.
-- Creating or replacing a function takes no lock on the queue's tables;
-- the timeouts bound the wait on the catalog should anything hold it.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

-- Gives back jobs a worker claimed ahead (its prefetch buffer) and never
-- started, when it stops or when their abort is requested: back to todo as
-- they were, no attempt counted; a job whose abort was requested ends
-- cancelled, as a waiting job would. Jobs of other workers, or no longer in
-- doing, are left alone. Returns the ids released.
create function procrastinate_release_jobs_v1(p_worker_id bigint, p_job_ids bigint[])
returns setof bigint
language sql
set search_path = pg_catalog, public
as $$
    update procrastinate_jobs as j
    set
        status = case when j.abort_requested then 'cancelled' else 'todo' end
        ::procrastinate_job_status,
        worker_id = null,
        started_at = null,
        finished_at = case when j.abort_requested then now() end,
        abort_requested = false
    where
        j.id = any(p_job_ids)
        and j.worker_id = p_worker_id
        and j.status = 'doing'
    returning j.id;
$$;
