-- Listings for the Python driver's JobManager (procrastinate shell, the
-- deprecated stalled-jobs API): jobs by filter and job counts by queue, task
-- or lock. Worker and operator roles have no right on the tables; these read
-- them for them. A producer gets SQLSTATE 42501: it sees only the status of
-- its own jobs (procrastinate_get_job_status).

-- Jobs matching every non-null filter, by id. p_silent_for: only running
-- jobs whose worker is gone or silent for longer than that many seconds;
-- p_running_for: only jobs running for longer than that many seconds.
create function procrastinate_list_jobs_v1(
    p_id bigint default null,
    p_queue text default null,
    p_task text default null,
    p_status text default null,
    p_lock text default null,
    p_queueing_lock text default null,
    p_worker_id bigint default null,
    p_abort_requested boolean default null,
    p_silent_for double precision default null,
    p_running_for double precision default null,
    p_now timestamptz default null
)
returns table (
    id bigint,
    queue_name text,
    task_name text,
    priority integer,
    lock text,
    queueing_lock text,
    args jsonb,
    status procrastinate_job_status,
    scheduled_at timestamptz,
    attempts integer,
    abort_requested boolean,
    worker_id bigint
)
language plpgsql
stable
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
    if not _procrastinate_sees_all_jobs() then
        raise exception 'listing jobs needs the worker or operator role' using errcode = '42501';
    end if;
    return query
    select
        j.id, j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock, j.args,
        j.status, j.scheduled_at, j.attempts, j.abort_requested, j.worker_id
    from procrastinate_jobs as j
    where
        (p_id is null or j.id = p_id)
        and (p_queue is null or j.queue_name = p_queue)
        and (p_task is null or j.task_name = p_task)
        and (p_status is null or j.status::text = p_status)
        and (p_lock is null or j.lock = p_lock)
        and (p_queueing_lock is null or j.queueing_lock = p_queueing_lock)
        and (p_worker_id is null or j.worker_id = p_worker_id)
        and (p_abort_requested is null or j.abort_requested = p_abort_requested)
        and (
            p_silent_for is null
            or (
                j.status = 'doing'
                and not exists (
                    select 1
                    from procrastinate_workers as w
                    where
                        w.id = j.worker_id
                        and w.last_heartbeat >= v_now - make_interval(secs => p_silent_for)
                )
            )
        )
        and (
            p_running_for is null
            or (
                j.status = 'doing'
                and j.started_at < v_now - make_interval(secs => p_running_for)
            )
        )
    order by j.id;
end;
$$;

-- Jobs per status of each queue, task or lock (p_by), with the filters of
-- procrastinate shell.
create function procrastinate_job_counts_v1(
    p_by text,
    p_queue text default null,
    p_task text default null,
    p_status text default null,
    p_lock text default null
)
returns table (
    name text,
    jobs_count bigint,
    todo bigint,
    doing bigint,
    succeeded bigint,
    failed bigint,
    cancelled bigint,
    aborted bigint
)
language plpgsql
stable
security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
    if p_by is null or p_by not in ('queue', 'task', 'lock') then
        raise exception 'p_by must be queue, task or lock, got %', coalesce(p_by, 'null')
            using errcode = 'PT001';
    end if;
    if not _procrastinate_sees_all_jobs() then
        raise exception 'counting jobs needs the worker or operator role' using errcode = '42501';
    end if;
    return query
    select
        k.name,
        count(*),
        count(*) filter (where j.status = 'todo'),
        count(*) filter (where j.status = 'doing'),
        count(*) filter (where j.status = 'succeeded'),
        count(*) filter (where j.status = 'failed'),
        count(*) filter (where j.status = 'cancelled'),
        count(*) filter (where j.status = 'aborted')
    from procrastinate_jobs as j
    cross join lateral (
        select case p_by
            when 'queue' then j.queue_name when 'task' then j.task_name else j.lock
        end as name
    ) as k
    where
        k.name is not null
        and (p_queue is null or j.queue_name = p_queue)
        and (p_task is null or j.task_name = p_task)
        and (p_status is null or j.status::text = p_status)
        and (p_lock is null or j.lock = p_lock)
    group by k.name
    order by k.name;
end;
$$;
