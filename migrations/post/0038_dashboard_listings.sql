-- The web dashboard's reads and its group retry (issue 19,
-- sql/92_dashboard.sql): a page of jobs by filter and keyset
-- (procrastinate_dashboard_jobs_v1), one job with its events
-- (procrastinate_dashboard_job_v1), failed jobs grouped by task and error
-- type (procrastinate_failure_groups_v1) and the retry of one group
-- (procrastinate_retry_failure_group_v1).
-- New functions only: nothing existing changes, no table is locked. A post
-- migration, after 0037 whose columns (last_error_traceback, result) they
-- read. Where sql/optional/roles.sql is in use, they are granted to the
-- operator role and taken from PUBLIC (the end of this file), as roles.sql
-- would.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

-- One page of jobs matching every non-null filter, newest first, by keyset:
-- the jobs with an id below p_before_id (null: from the newest). Never an
-- OFFSET, whose cost grows with the page number: the next page starts at
-- the last id shown, through the primary key.
create function procrastinate_dashboard_jobs_v1(
    p_queue text default null,
    p_task text default null,
    p_status text default null,
    p_lock text default null,
    p_worker_id bigint default null,
    p_before_id bigint default null,
    p_limit integer default 50
)
returns table (
    id bigint,
    queue_name text,
    task_name text,
    status procrastinate_job_status,
    lock text,
    attempts integer,
    worker_id bigint,
    scheduled_at timestamptz,
    created_at timestamptz,
    started_at timestamptz,
    finished_at timestamptz
)
language plpgsql
stable
security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
    if not _procrastinate_sees_all_jobs() then
        raise exception 'listing jobs needs the worker or operator role' using errcode = '42501';
    end if;
    -- a page is for a human: a bound keeps one request from reading the table
    if p_limit is null or p_limit < 1 or p_limit > 500 then
        raise exception 'p_limit must be between 1 and 500, got %', coalesce(p_limit::text, 'null')
            using errcode = 'PT001';
    end if;
    return query
    select
        j.id, j.queue_name, j.task_name, j.status, j.lock, j.attempts, j.worker_id,
        j.scheduled_at, j.created_at, j.started_at, j.finished_at
    from procrastinate_jobs as j
    where
        (p_before_id is null or j.id < p_before_id)
        and (p_queue is null or j.queue_name = p_queue)
        and (p_task is null or j.task_name = p_task)
        and (p_status is null or j.status::text = p_status)
        and (p_lock is null or j.lock = p_lock)
        and (p_worker_id is null or j.worker_id = p_worker_id)
    order by j.id desc
    limit p_limit;
end;
$$;

-- Everything about one job, its events (oldest first, as a jsonb array of
-- {"type", "at"}) and the name of its worker; no row for an unknown id.
create function procrastinate_dashboard_job_v1(p_id bigint)
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
    max_attempts integer,
    abort_requested boolean,
    worker_id bigint,
    worker_name text,
    created_at timestamptz,
    started_at timestamptz,
    finished_at timestamptz,
    last_error text,
    last_error_types text[],
    last_error_traceback text,
    rescue_count integer,
    store_result boolean,
    result jsonb,
    result_error text,
    parents bigint[],
    events jsonb
)
language plpgsql
stable
security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
    if not _procrastinate_sees_all_jobs() then
        raise exception 'reading a job needs the worker or operator role' using errcode = '42501';
    end if;
    return query
    select
        j.id, j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock, j.args,
        j.status, j.scheduled_at, j.attempts, j.max_attempts, j.abort_requested,
        j.worker_id, w.name, j.created_at, j.started_at, j.finished_at, j.last_error,
        j.last_error_types, j.last_error_traceback, j.rescue_count, j.store_result,
        j.result, j.result_error, j.parents,
        coalesce((
            select jsonb_agg(jsonb_build_object('type', e.type, 'at', e.at) order by e.id)
            from procrastinate_events as e
            where e.job_id = j.id
        ), '[]'::jsonb)
    from procrastinate_jobs as j
    left join procrastinate_workers as w on w.id = j.worker_id
    where j.id = p_id;
end;
$$;

-- Failed jobs grouped by task and error type (the class of the exception,
-- the first of last_error_types; null when the worker sent none), most
-- jobs first, with the latest failure of each group as an example.
create function procrastinate_failure_groups_v1()
returns table (
    task_name text,
    error_type text,
    jobs bigint,
    last_failed_at timestamptz,
    last_job_id bigint,
    last_error text
)
language plpgsql
stable
security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
    if not _procrastinate_sees_all_jobs() then
        raise exception 'listing failures needs the worker or operator role'
            using errcode = '42501';
    end if;
    return query
    select distinct on (j.task_name, j.last_error_types[1])
        j.task_name,
        j.last_error_types[1],
        count(*) over (partition by j.task_name, j.last_error_types[1]),
        j.finished_at,
        j.id,
        j.last_error
    from procrastinate_jobs as j
    where j.status = 'failed'
    order by j.task_name, j.last_error_types[1], j.finished_at desc nulls last, j.id desc;
end;
$$;

-- Puts back in the queue every failed job of one group of
-- procrastinate_failure_groups_v1 (p_error_type null: the jobs failed
-- without a type), each through procrastinate_retry_job_v1 so that a group
-- retry follows the rule of one retry. Returns how many.
create function procrastinate_retry_failure_group_v1(p_task_name text, p_error_type text)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_id bigint;
    v_count integer := 0;
begin
    for v_id in
        select j.id
        from procrastinate_jobs as j
        where
            j.status = 'failed'
            and j.task_name = p_task_name
            and j.last_error_types[1] is not distinct from p_error_type
        order by j.id
    loop
        perform procrastinate_retry_job_v1(v_id, null, null, null, null, null);
        v_count := v_count + 1;
    end loop;
    return v_count;
end;
$$;

-- Where sql/optional/roles.sql is in use, these functions (security definer:
-- they read every job, and one retries) are the operator's only: a new
-- function is executable by PUBLIC until revoked.
do $$
begin
    if to_regrole('procrastinate_operator') is null then
        return;
    end if;
    revoke execute on function
    procrastinate_dashboard_jobs_v1(text, text, text, text, bigint, bigint, integer),
    procrastinate_dashboard_job_v1(bigint),
    procrastinate_failure_groups_v1(),
    procrastinate_retry_failure_group_v1(text, text)
    from public;
    grant execute on function
    procrastinate_dashboard_jobs_v1(text, text, text, text, bigint, bigint, integer),
    procrastinate_dashboard_job_v1(bigint),
    procrastinate_failure_groups_v1(),
    procrastinate_retry_failure_group_v1(text, text)
    to procrastinate_operator;
end;
$$;
