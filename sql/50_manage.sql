-- Managing single jobs: cancel, abort, manual retry, status. The _v1
-- functions are what the Python driver's JobManager calls; the user-facing
-- functions without a version are one-line wrappers over them.

-- Cancels a waiting job (todo -> cancelled, or deleted with delete_job), or
-- with abort asks the worker running it to stop. True when something changed.
-- No defaults: while a procrastinate 3.x database is converted, 3.x calls its
-- own procrastinate_cancel_job_v1 with three arguments, which must match
-- that one only.
create function procrastinate_cancel_job_v1(
    job_id bigint,
    abort boolean,
    delete_job boolean,
    p_now timestamptz
)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_status procrastinate_job_status;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if job_id is null or abort is null or delete_job is null then
        raise exception 'job_id, abort and delete_job must not be null' using errcode = 'PT001';
    end if;
    select j.status into v_status
    from procrastinate_jobs as j
    where j.id = job_id
    for update;

    if not found then
        raise exception 'job % does not exist', job_id
            using errcode = 'PT003';
    end if;

    if v_status = 'todo' and delete_job then
        delete from procrastinate_jobs as j where j.id = job_id;
    elsif v_status = 'todo' then
        update procrastinate_jobs as j
        set status = 'cancelled', finished_at = v_now
        where j.id = job_id;
    elsif v_status = 'doing' and abort then
        update procrastinate_jobs as j
        set abort_requested = true
        where j.id = job_id and not j.abort_requested;
    else
        return false;
    end if;
    return true;
end;
$$;

create function procrastinate_cancel_job(
    job_id bigint,
    abort boolean default false,
    delete_job boolean default false
)
returns boolean
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    -- every argument given: during a conversion from procrastinate 3.x, its
    -- procrastinate_cancel_job_v1(bigint, boolean, boolean) exists too
    select procrastinate_cancel_job_v1(job_id, abort, delete_job, null);
$$;

comment on function procrastinate_cancel_job(bigint, boolean, boolean) is
'Cancel a job. A waiting job (todo) becomes cancelled, or is deleted when delete_job is true.
A running job (doing) is only touched when abort is true: abort_requested is set and the
worker running it is notified; it ends aborted. Returns true when the job was cancelled or
its abort requested, false when its status allows neither (already finished, or running and
abort is false). An unknown job_id raises SQLSTATE PT003.';

-- Puts a failed job (or a running one, ending its run) back in the queue.
-- Returns the new status: todo, or failed for a running job whose abort was
-- requested (procrastinate's rule).
-- No defaults, for the same reason as procrastinate_cancel_job_v1 (3.x's
-- procrastinate_retry_job_v1 takes five arguments).
create function procrastinate_retry_job_v1(
    job_id bigint,
    retry_at timestamptz,
    priority integer,
    queue_name text,
    lock text,
    p_now timestamptz
)
returns procrastinate_job_status
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_job record;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if job_id is null then
        raise exception 'job_id must not be null' using errcode = 'PT001';
    end if;
    if queue_name = '' then
        raise exception 'queue_name must not be empty'
            using errcode = 'PT001';
    end if;
    select j.status, j.abort_requested into v_job
    from procrastinate_jobs as j
    where j.id = job_id
    for update;

    if not found then
        raise exception 'job % does not exist', job_id
            using errcode = 'PT003';
    end if;
    if v_job.status not in ('failed', 'doing') then
        raise exception 'job % cannot be retried: its status is % (only failed or running jobs can be)',
            job_id, v_job.status
            using errcode = 'PT004';
    end if;

    if v_job.status = 'doing' and v_job.abort_requested then
        update procrastinate_jobs as j
        set
            status = 'failed',
            attempts = j.attempts + 1,
            abort_requested = false,
            finished_at = v_now
        where j.id = job_id;
        return 'failed';
    end if;

    update procrastinate_jobs as j
    set
        status = 'todo',
        -- ending a run counts as an attempt and fences off its worker
        attempts = j.attempts + (v_job.status = 'doing')::integer,
        worker_id = null,
        scheduled_at = retry_at,
        finished_at = null,
        priority = coalesce(procrastinate_retry_job_v1.priority, j.priority),
        queue_name = coalesce(procrastinate_retry_job_v1.queue_name, j.queue_name),
        lock = coalesce(procrastinate_retry_job_v1.lock, j.lock)
    where j.id = job_id;
    return 'todo';
end;
$$;

create function procrastinate_retry_job(
    job_id bigint,
    retry_at timestamptz default null,
    priority integer default null,
    queue_name text default null,
    lock text default null
)
returns procrastinate_job_status
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    -- every argument given: during a conversion from procrastinate 3.x, its
    -- procrastinate_retry_job_v1 with five arguments exists too
    select procrastinate_retry_job_v1(job_id, retry_at, priority, queue_name, lock, null);
$$;

comment on function procrastinate_retry_job(bigint, timestamptz, integer, text, text) is
'Put a failed job back in the queue (failed -> todo), at retry_at (null: now), optionally with
a new priority, queue_name or lock. A running job may be retried too (its run ends and counts
as an attempt), except one whose abort was requested: it ends failed. Returns the new status.
Unknown job: SQLSTATE PT003; a job in another status: PT004.';

-- The status of one job; PT003 when it does not exist, or when a producer
-- asks for a job its login role did not defer (it cannot tell the two apart).
create function procrastinate_get_job_status_v1(job_id bigint)
returns procrastinate_job_status
language plpgsql
stable
-- Producers may read the status of their jobs without reading the jobs table.
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_status procrastinate_job_status;
begin
    if job_id is null then
        raise exception 'job_id must not be null' using errcode = 'PT001';
    end if;
    select j.status into v_status
    from procrastinate_jobs as j
    where
        j.id = job_id
        and (j.deferred_by = session_user or _procrastinate_sees_all_jobs());
    if not found then
        raise exception 'job % does not exist', job_id
            using errcode = 'PT003';
    end if;
    return v_status;
end;
$$;

create function procrastinate_get_job_status(job_id bigint)
returns procrastinate_job_status
language sql
stable
set search_path = pg_catalog, public, pg_temp
as $$
    select procrastinate_get_job_status_v1(job_id);
$$;

comment on function procrastinate_get_job_status(bigint) is
'The status of a job (todo, doing, succeeded, failed, cancelled, aborted). Unknown job:
SQLSTATE PT003. A producer role sees only the jobs its login role deferred; other jobs read
as unknown.';
