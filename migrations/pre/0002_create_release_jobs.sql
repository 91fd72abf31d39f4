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
-- One fresh job (attempts 0) per queueing lock may wait: a claimed job whose
-- lock a waiting fresh job took meanwhile (or another of the same call, the
-- oldest being released) is not released here; it stays with the worker,
-- which unregistering gives back as a retry, like any job it held.
create function procrastinate_release_jobs_v1(p_worker_id bigint, p_job_ids bigint[])
returns setof bigint
language sql
set search_path = pg_catalog, public
as $$
    with asked as (
        select j.id, j.queueing_lock, j.attempts, j.abort_requested
        from procrastinate_jobs as j
        where
            j.id = any(p_job_ids)
            and j.worker_id = p_worker_id
            and j.status = 'doing'
        for update
    ),

    releasable as (
        select a.id
        from asked as a
        where
            a.abort_requested
            or a.queueing_lock is null
            or a.attempts > 0
            or (
                a.id = (
                    select min(b.id)
                    from asked as b
                    where
                        b.queueing_lock = a.queueing_lock
                        and b.attempts = 0
                        and not b.abort_requested
                )
                and not exists (
                    select 1
                    from procrastinate_jobs as w
                    where
                        md5(w.queueing_lock) = md5(a.queueing_lock)
                        and w.queueing_lock = a.queueing_lock
                        and w.status = 'todo'
                        and w.attempts = 0
                )
            )
    )

    update procrastinate_jobs as j
    set
        status = case when j.abort_requested then 'cancelled' else 'todo' end
        ::procrastinate_job_status,
        worker_id = null,
        started_at = null,
        finished_at = case when j.abort_requested then now() end,
        abort_requested = false
    from releasable as r
    where j.id = r.id
    returning j.id;
$$;
