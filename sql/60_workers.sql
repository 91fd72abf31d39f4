-- Workers: registration, heartbeats, abort confirmation. Called by the
-- Python worker; rows are readable from psql (who runs what, since when).

-- Registers a starting worker and returns its id.
create function procrastinate_register_worker_v1(
    p_name text,
    p_queues text[],
    p_concurrency integer,
    p_host text,
    p_pid integer,
    p_now timestamptz default now()
)
returns bigint
language sql
set search_path = pg_catalog, public
as $$
    insert into procrastinate_workers (
        name, queues, concurrency, host, pid, started_at, last_heartbeat
    )
    values (coalesce(p_name, 'worker'), p_queues, p_concurrency, p_host, p_pid, p_now, p_now)
    returning id;
$$;

-- Records that a worker is alive. False when its row is gone (it was pruned
-- as dead): the worker must stop reporting under that id.
create function procrastinate_heartbeat_v1(
    p_worker_id bigint,
    p_now timestamptz default now()
)
returns boolean
language sql
set search_path = pg_catalog, public
as $$
    with beat as (
        update procrastinate_workers as w
        set last_heartbeat = p_now
        where w.id = p_worker_id
        returning 1
    )

    select exists (select 1 from beat);
$$;

-- Removes a stopping worker. Jobs it still holds (their outcome could not be
-- reported) go back to the queue, their run counted as an attempt, so that
-- nothing stays in doing without a worker; those whose abort was requested
-- end aborted. Returns how many jobs were released.
create function procrastinate_unregister_worker_v1(p_worker_id bigint)
returns integer
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    v_released integer;
begin
    update procrastinate_jobs as j
    set
        status = case when j.abort_requested then 'aborted' else 'todo' end
        ::procrastinate_job_status,
        attempts = j.attempts + 1,
        worker_id = case when j.abort_requested then j.worker_id end,
        finished_at = case when j.abort_requested then now() end,
        abort_requested = false
    where j.worker_id = p_worker_id and j.status = 'doing';
    get diagnostics v_released = row_count;

    delete from procrastinate_workers as w where w.id = p_worker_id;
    return v_released;
end;
$$;

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

-- Running jobs of a worker whose abort was requested: workers confirm an
-- abort notification here before acting on it.
create function procrastinate_jobs_to_abort_v1(p_worker_id bigint)
returns setof bigint
language sql
stable
set search_path = pg_catalog, public
as $$
    select j.id
    from procrastinate_jobs as j
    where
        j.worker_id = p_worker_id
        and j.status = 'doing'
        and j.abort_requested
    order by j.id;
$$;
