-- Periodic (cron) tasks: every worker defers the ticks it finds due, and this
-- function makes sure each tick yields exactly one job however many workers
-- try. The tick row and its job are written in one transaction, so a crash
-- in the middle leaves nothing behind and blocks no later tick.

-- Defers p_job (a job object, see procrastinate_defer_jobs_v2) for tick
-- p_defer_timestamp (unix seconds) of periodic task p_task_name/p_periodic_id.
-- Returns the job id, or null when that tick was already deferred.
create function procrastinate_defer_periodic_job_v1(
    p_task_name text,
    p_periodic_id text,
    p_defer_timestamp bigint,
    p_job jsonb
)
returns bigint
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_defer_id bigint;
    v_job_id bigint;
begin
    -- One deferrer at a time per periodic task, so that the check below and
    -- the insert see the same latest tick.
    perform pg_advisory_xact_lock(
        hashtextextended('procrastinate periodic ' || p_task_name || ' ' || coalesce(p_periodic_id, ''), 0)
    );
    -- A tick older than the latest one already deferred is a lagging
    -- worker's: it was handled (or deliberately skipped) by then.
    if exists (
        select 1
        from procrastinate_periodic_defers as p
        where
            p.task_name = p_task_name
            and p.periodic_id = coalesce(p_periodic_id, '')
            and p.defer_timestamp >= p_defer_timestamp
    ) then
        return null;
    end if;

    insert into procrastinate_periodic_defers (task_name, periodic_id, defer_timestamp)
    values (p_task_name, coalesce(p_periodic_id, ''), p_defer_timestamp)
    on conflict do nothing
    returning id into v_defer_id;

    if v_defer_id is null then
        return null;
    end if;

    select d.id into v_job_id from procrastinate_defer_jobs_v2(jsonb_build_array(p_job)) as d;

    update procrastinate_periodic_defers as p
    set job_id = v_job_id
    where p.id = v_defer_id;

    -- Only the latest tick of each periodic task needs remembering.
    delete from procrastinate_periodic_defers as p
    where
        p.task_name = p_task_name
        and p.periodic_id = coalesce(p_periodic_id, '')
        and p.defer_timestamp < p_defer_timestamp;

    return v_job_id;
end;
$$;

-- The latest deferred tick of each periodic task: workers start from there
-- when they compute which ticks are due.
create function procrastinate_last_periodic_ticks_v1()
returns table (task_name text, periodic_id text, defer_timestamp bigint)
language sql
stable
security definer
set search_path = pg_catalog, public, pg_temp
as $$
    select p.task_name, p.periodic_id, max(p.defer_timestamp)
    from procrastinate_periodic_defers as p
    group by p.task_name, p.periodic_id;
$$;
