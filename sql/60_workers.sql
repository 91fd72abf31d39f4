-- Workers: registration, heartbeats, abort confirmation. Called by the
-- Python worker (and by workers in other languages: docs/sql-api.md); rows
-- are readable from psql (who runs what, since when). A worker id belongs to
-- the login role that registered it (_procrastinate_check_worker).

-- Registers a starting worker and returns its id. p_stalled_after is its
-- lease: seconds of silence after which its jobs may be rescued (null: the
-- setting procrastinate_settings.stalled_worker_timeout).
create function procrastinate_register_worker_v2(
    p_name text,
    p_queues text[],
    p_concurrency integer,
    p_host text,
    p_pid integer,
    p_stalled_after double precision default null,
    p_now timestamptz default null
)
returns bigint
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_id bigint;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if p_stalled_after <= 0 then
        raise exception 'p_stalled_after must be a positive number of seconds, got %',
            p_stalled_after
            using errcode = 'PT001';
    end if;
    if p_concurrency < 1 then
        raise exception 'p_concurrency must be a positive number of jobs, got %', p_concurrency
            using errcode = 'PT001';
    end if;
    insert into procrastinate_workers (
        name, queues, concurrency, host, pid, started_at, last_heartbeat,
        registered_by, stalled_after, alive_since
    )
    values (
        coalesce(p_name, 'worker'), p_queues, p_concurrency, p_host, p_pid, v_now, v_now,
        session_user, p_stalled_after, v_now
    )
    returning id into v_id;
    return v_id;
end;
$$;

-- Records that a worker is alive: renews its lease (58_leases.sql). Returns
-- the lease's length in seconds, so that the worker knows when to stop its
-- jobs if it cannot renew again (docs/reliability.md); null when its row is
-- gone (its lease ran out and it was removed): the worker must stop
-- reporting under that id and register again.
create function procrastinate_heartbeat_v2(
    p_worker_id bigint,
    p_now timestamptz default null
)
returns double precision
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    perform _procrastinate_check_worker(p_worker_id);
    if not _procrastinate_renew_lease(p_worker_id, v_now, false) then
        return null;
    end if;
    return (
        select extract(epoch from _procrastinate_lease(w.stalled_after))::double precision
        from procrastinate_workers as w
        where w.id = p_worker_id
    );
end;
$$;

-- Removes a stopping worker. Jobs it still holds (their outcome could not be
-- reported) go back to the queue, their run counted as an attempt, so that
-- nothing stays in doing without a worker; those whose abort was requested
-- end aborted. Returns how many jobs were released.
create function procrastinate_unregister_worker_v2(
    p_worker_id bigint,
    p_now timestamptz default null
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_released integer;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    perform _procrastinate_check_worker(p_worker_id);
    update procrastinate_jobs as j
    set
        status = case when j.abort_requested then 'aborted' else 'todo' end
        ::procrastinate_job_status,
        attempts = j.attempts + 1,
        worker_id = case when j.abort_requested then j.worker_id end,
        finished_at = case when j.abort_requested then v_now end,
        abort_requested = false
    where j.worker_id = p_worker_id and j.status = 'doing';
    get diagnostics v_released = row_count;

    delete from procrastinate_workers as w where w.id = p_worker_id;
    return v_released;
end;
$$;

-- Gives back jobs a worker claimed ahead (its prefetch buffer) and never
-- started, when it stops or when their abort is requested: back to todo as
-- they were, no attempt counted (their event is released: they never ran);
-- a job whose abort was requested ends aborted, like any pending abort.
-- Jobs of other workers, or no longer in doing, are left alone. Returns the
-- ids released.
-- One fresh job (attempts 0) per queueing lock may wait: a claimed job whose
-- lock a waiting fresh job took meanwhile (or another of the same call, the
-- oldest being released) is not released here; it stays with the worker,
-- which unregistering gives back as a retry, like any job it held.
create function procrastinate_release_jobs_v2(
    p_worker_id bigint,
    p_job_ids bigint[],
    p_now timestamptz default null
)
returns setof bigint
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    perform _procrastinate_check_worker(p_worker_id);
    return query
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
        status = case when j.abort_requested then 'aborted' else 'todo' end
        ::procrastinate_job_status,
        worker_id = case when j.abort_requested then j.worker_id end,
        started_at = case when j.abort_requested then j.started_at end,
        finished_at = case when j.abort_requested then v_now end,
        claim_token = null,
        abort_requested = false
    from releasable as r
    where j.id = r.id
    returning j.id;
end;
$$;

-- Running jobs of a worker whose abort was requested: workers confirm an
-- abort notification here before acting on it.
create function procrastinate_jobs_to_abort_v1(p_worker_id bigint)
returns setof bigint
language plpgsql
stable
security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
    perform _procrastinate_check_worker(p_worker_id);
    return query
    select j.id
    from procrastinate_jobs as j
    where
        j.worker_id = p_worker_id
        and j.status = 'doing'
        and j.abort_requested
    order by j.id;
end;
$$;
