-- Bulk actions for the person on call, and retention. User-facing; the ones
-- the Python driver calls are one-line wrappers over their _v1.

-- Puts every failed job of a queue and/or task back in the queue.
create function procrastinate_retry_failed_jobs(
    queue_name text default null,
    task_name text default null
)
returns integer
language plpgsql
-- an operator role has no right on the tables
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_count integer;
begin
    update procrastinate_jobs as j
    set status = 'todo', scheduled_at = null, finished_at = null, worker_id = null
    where
        j.status = 'failed'
        and (procrastinate_retry_failed_jobs.queue_name is null
            or j.queue_name = procrastinate_retry_failed_jobs.queue_name)
        and (procrastinate_retry_failed_jobs.task_name is null
            or j.task_name = procrastinate_retry_failed_jobs.task_name);
    get diagnostics v_count = row_count;
    return v_count;
end;
$$;

comment on function procrastinate_retry_failed_jobs(text, text) is
'Put all failed jobs of queue_name and/or task_name (null: any) back in todo, to run now.
Returns how many. Example: select procrastinate_retry_failed_jobs(task_name => ''send_mail'');';

-- Cancels every waiting job of a queue and/or task.
create function procrastinate_cancel_jobs(
    queue_name text,
    task_name text,
    p_now timestamptz default null
)
returns integer
language plpgsql
-- an operator role has no right on the tables
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_count integer;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if queue_name is null and task_name is null then
        raise exception 'name a queue_name or a task_name (or both): refusing to cancel every job'
            using errcode = 'PT001';
    end if;
    update procrastinate_jobs as j
    set status = 'cancelled', finished_at = v_now
    where
        j.status = 'todo'
        and (procrastinate_cancel_jobs.queue_name is null
            or j.queue_name = procrastinate_cancel_jobs.queue_name)
        and (procrastinate_cancel_jobs.task_name is null
            or j.task_name = procrastinate_cancel_jobs.task_name);
    get diagnostics v_count = row_count;
    return v_count;
end;
$$;

comment on function procrastinate_cancel_jobs(text, text, timestamptz) is
'Cancel every waiting (todo) job of queue_name and/or task_name; null matches any, but not
both. Running jobs are left alone (abort them one by one with procrastinate_cancel_job).
Returns how many were cancelled.';

-- Stops workers from fetching a queue; running jobs finish.
create function procrastinate_pause_queue_v1(
    p_queue_name text,
    p_now timestamptz default null
)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
    if p_queue_name is null or p_queue_name = '' then
        raise exception 'queue_name must be a non-empty string' using errcode = 'PT001';
    end if;
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    insert into procrastinate_paused_queues (queue_name, paused_at)
    values (p_queue_name, coalesce(p_now, now()))
    on conflict do nothing;
    return found;
end;
$$;

create function procrastinate_pause_queue(queue_name text)
returns boolean
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    select procrastinate_pause_queue_v1(queue_name);
$$;

comment on function procrastinate_pause_queue(text) is
'Pause a queue: workers stop fetching its jobs; running jobs finish; deferring still works.
Returns false if it was already paused. Undo with procrastinate_resume_queue.';

-- Lets workers fetch a paused queue again, waking them at once.
create function procrastinate_resume_queue_v1(p_queue_name text)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
    delete from procrastinate_paused_queues as p
    where p.queue_name = p_queue_name;
    if not found then
        return false;
    end if;
    perform _procrastinate_notify('job_available', 'queues', jsonb_build_array(p_queue_name));
    return true;
end;
$$;

create function procrastinate_resume_queue(queue_name text)
returns boolean
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    select procrastinate_resume_queue_v1(queue_name);
$$;

comment on function procrastinate_resume_queue(text) is
'Resume a paused queue and wake listening workers at once. Returns false if it was not
paused.';

-- Deletes finished jobs older than max_hours, at most max_jobs of them.
create function procrastinate_remove_old_jobs_v1(
    max_hours double precision,
    queue_name text default null,
    statuses text[] default array['succeeded'],
    max_jobs integer default null,
    p_now timestamptz default null
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
-- a delete of many old jobs is estimated costly enough for JIT, whose
-- compilation would cost more than the delete of a bounded batch
set jit = off
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_count integer;
    v_bad text;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if max_hours is null or max_hours < 0 then
        raise exception 'max_hours must be zero or more, got %', max_hours
            using errcode = 'PT001';
    end if;
    if max_jobs < 0 then
        raise exception 'max_jobs must be zero or more (null: no limit), got %', max_jobs
            using errcode = 'PT001';
    end if;
    select s into v_bad
    from unnest(statuses) as s
    where s not in ('succeeded', 'failed', 'cancelled', 'aborted')
    limit 1;
    if v_bad is not null then
        raise exception 'statuses: cannot remove jobs of status %: only succeeded, failed, cancelled or aborted',
            v_bad
            using errcode = 'PT001';
    end if;

    -- The ids are picked once (a materialized CTE): in a semi-join the
    -- subquery could be rescanned and its limit would then bound nothing.
    with old as materialized (
        select o.id
        from procrastinate_jobs as o
        where
            o.status::text = any(statuses)
            and (procrastinate_remove_old_jobs_v1.queue_name is null
                or o.queue_name = procrastinate_remove_old_jobs_v1.queue_name)
            and coalesce(o.finished_at, o.created_at)
            < v_now - make_interval(secs => max_hours * 3600)
        order by o.id
        limit max_jobs
        for update skip locked
    )

    delete from procrastinate_jobs as j
    using old
    where j.id = old.id;
    get diagnostics v_count = row_count;
    -- throttle periods that are over remember nothing a defer needs
    -- (21_debounce_throttle.sql)
    delete from procrastinate_throttles as t where t.throttled_until <= v_now;
    return v_count;
end;
$$;

create function procrastinate_remove_old_jobs(
    max_hours double precision,
    queue_name text default null,
    statuses text[] default array['succeeded'],
    max_jobs integer default null
)
returns integer
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    select procrastinate_remove_old_jobs_v1(max_hours, queue_name, statuses, max_jobs);
$$;

comment on function procrastinate_remove_old_jobs(double precision, text, text[], integer) is
'Delete jobs finished more than max_hours ago, of queue_name (null: all) and statuses (default
succeeded only; also failed, cancelled, aborted), with their events. max_jobs bounds one call
(null: all): call it repeatedly, each call in its own transaction, to clean a big table
without long locks. Returns how many were deleted.';

-- The operator's rescue, for when no worker is alive to rescue on its
-- heartbeat: the jobs of every worker whose lease ran out go back to the
-- queue now (procrastinate_rescue_stalled_jobs_v2 with no worker id, which
-- only a trusted session may call).
create function procrastinate_rescue_stalled_jobs()
returns table (job_id bigint, status procrastinate_job_status)
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    select r.job_id, r.status from procrastinate_rescue_stalled_jobs_v2(null) as r;
$$;

comment on function procrastinate_rescue_stalled_jobs() is
'Take back now the jobs of workers whose lease ran out (see procrastinate_stalled_jobs), as
live workers do on their heartbeat: for when none is alive. Each job goes back to todo, or
ends failed (rescued too often, or out of attempts) or aborted (abort requested). Returns the
rescued jobs and their new status. For the owner of the queue or an operator.';
