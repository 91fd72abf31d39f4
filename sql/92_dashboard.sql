-- What the web dashboard (procrastinate.dashboard) reads and does beyond the
-- ops views: a page of jobs by filter, time range and args, one job with its
-- history, jobs ended per time bucket (the overview's charts), the workers,
-- failures grouped by task and error type, and the retry of one such group.
-- The operator role calls them (sql/optional/roles.sql grants it every
-- procrastinate_ function), the reader role the reading ones; they read the
-- tables for them, as the listings do.

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

-- Jobs that succeeded and failed per queue and per time bucket: p_buckets
-- buckets of equal width covering p_since up to p_now, aligned on their
-- width (the last one holds p_now and is still filling). One row per queue
-- and bucket that has jobs (the dashboard fills the gaps with zeros);
-- bucket_start is the start of the bucket. p_now only moves the window:
-- anyone allowed to read may set it.
-- Counted from the history, not from the jobs: every end of a job records a
-- 'succeeded' or 'failed' event (70_events.sql) at its finished_at, so the
-- finish pays nothing for the charts (an index of jobs by finished_at cost
-- every finish 2-3%). Each end counts where it happened: a job that failed
-- for good, was retried by hand and then succeeded counts one failure and one
-- success (a failure the retry policy retried is a 'deferred_for_retry'
-- event: not counted). The queue is the job's, joined by job_id; a deleted
-- job's events are deleted with it (same transaction), so it counts nowhere.
-- Events are numbered as they are recorded, and a finish records its event
-- at the start of its own transaction (a worker's finish is one statement):
-- a binary search through the primary key (about 20 probes each) finds the
-- ids that bracket the window, widened by 2 minutes for a finish whose
-- transaction ran that long (the dashboard keeps a bucket a minute after
-- its end, on the same assumption); the count then reads the events between
-- them only (the widening is read too: it costs the events of 2 minutes). A
-- probe reads the first finish event at or after its id; where none is
-- among the next 256 events (a long run of defers), it takes the time of the
-- first event that is not a schedule (whose time is the job's due time, not
-- the time it was recorded).
create function procrastinate_dashboard_throughput_v1(
    p_since interval default interval '1 hour',
    p_buckets integer default 60,
    p_now timestamptz default now()
)
returns table (
    queue_name text,
    bucket_start timestamptz,
    succeeded bigint,
    failed bigint
)
language plpgsql
stable
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_slack constant interval := interval '2 minutes';
    v_probe_span constant bigint := 256;
    v_step interval;
    v_end timestamptz;
    v_start timestamptz;
    v_min bigint;
    v_max bigint;
    v_pass integer;
    v_bound timestamptz;
    v_low bigint;
    v_high bigint;
    v_mid bigint;
    v_id bigint;
    v_at timestamptz;
    v_first bigint;
    v_last bigint;
begin
    if not _procrastinate_sees_all_jobs() then
        raise exception 'reading throughput needs the worker, operator or reader role'
            using errcode = '42501';
    end if;
    if p_buckets is null or p_buckets < 1 or p_buckets > 1440 then
        raise exception 'p_buckets must be between 1 and 1440, got %',
            coalesce(p_buckets::text, 'null')
            using errcode = 'PT001';
    end if;
    if
        p_since is null or p_since <= interval '0' or p_since > interval '31 days'
        or p_now is null
    then
        raise exception 'p_since must be over 0 and at most 31 days (and p_now not null), got %',
            coalesce(p_since::text, 'null')
            using errcode = 'PT001';
    end if;
    v_step := p_since / p_buckets;
    if v_step < interval '1 second' then
        raise exception 'buckets must be at least one second wide, got %', v_step
            using errcode = 'PT001';
    end if;
    v_end := date_bin(v_step, p_now, timestamptz '2000-01-01 00:00:00+00') + v_step;
    v_start := v_end - v_step * p_buckets;
    select min(e.id), max(e.id) into v_min, v_max from procrastinate_events as e;
    if v_min is null then
        return;
    end if;
    v_first := v_min;
    v_last := v_max;
    -- the first bound: from the first id whose finishes are at or after the
    -- window's start, widened; the second: below the first id whose finishes
    -- are after its end, widened (no search when that is in the future: every
    -- event recorded so far may be in the window)
    for v_pass in 1..2 loop
        v_bound := case when v_pass = 1 then v_start - v_slack else v_end + v_slack end;
        continue when v_pass = 2 and v_bound > now();
        v_low := v_min;
        v_high := v_max + 1;
        while v_low < v_high loop
            v_mid := v_low + (v_high - v_low) / 2;
            select e.id, e.at into v_id, v_at
            from procrastinate_events as e
            where
                e.id >= v_mid
                and e.id < v_high
                and (
                    e.type in ('succeeded', 'failed')
                    or (e.id >= v_mid + v_probe_span and e.type <> 'scheduled')
                )
            order by e.id
            limit 1;
            -- none: no finish in [v_mid, v_high), the bound is below
            if v_id is null or v_at >= v_bound then
                v_high := v_mid;
            else
                v_low := v_id + 1;
            end if;
        end loop;
        if v_pass = 1 then
            v_first := v_low;
        else
            v_last := v_low - 1;
        end if;
    end loop;
    return query
    select
        j.queue_name,
        date_bin(v_step, e.at, v_start),
        count(*) filter (where e.type = 'succeeded'),
        count(*) filter (where e.type = 'failed')
    from procrastinate_events as e
    inner join procrastinate_jobs as j on e.job_id = j.id
    where
        e.id >= v_first
        and e.id <= v_last
        and e.type in ('succeeded', 'failed')
        and e.at >= v_start
        and e.at < v_end
    group by 1, 2
    order by 1, 2;
end;
$$;

-- The ids that bracket the jobs created between p_created_from and
-- p_created_to (either null: unbounded), for the jobs page's time range:
-- the page then walks the primary key between them instead of the table.
-- Jobs are numbered as they are created, so a binary search through the
-- primary key finds each bound in about 20 probes. A transaction's jobs
-- carry the time it began; the bounds are widened by 10 minutes so that a
-- job deferred by a transaction that ran that long still falls inside (the
-- page filters on created_at exactly). No row when no job is in range.
create function procrastinate_dashboard_id_bounds_v1(
    p_created_from timestamptz default null,
    p_created_to timestamptz default null
)
returns table (first_id bigint, last_id bigint)
language plpgsql
stable
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_slack constant interval := interval '10 minutes';
    v_min bigint;
    v_max bigint;
    v_low bigint;
    v_high bigint;
    v_mid bigint;
    v_id bigint;
    v_created_at timestamptz;
    v_first bigint;
    v_last bigint;
begin
    if not _procrastinate_sees_all_jobs() then
        raise exception 'listing jobs needs the worker, operator or reader role'
            using errcode = '42501';
    end if;
    select min(j.id), max(j.id) into v_min, v_max from procrastinate_jobs as j;
    if v_min is null then
        return;
    end if;
    v_first := v_min;
    v_last := v_max;
    -- the first id created at or after the start, widened
    if p_created_from is not null then
        v_low := v_min;
        v_high := v_max + 1;
        while v_low < v_high loop
            v_mid := v_low + (v_high - v_low) / 2;
            select j.id, j.created_at into v_id, v_created_at
            from procrastinate_jobs as j
            where j.id >= v_mid
            order by j.id
            limit 1;
            if v_id is null or v_created_at >= p_created_from - v_slack then
                v_high := v_mid;
            else
                v_low := v_id + 1;
            end if;
        end loop;
        v_first := v_low;
    end if;
    -- the last id created at or before the end, widened: one below the
    -- first one created after it
    if p_created_to is not null then
        v_low := v_min;
        v_high := v_max + 1;
        while v_low < v_high loop
            v_mid := v_low + (v_high - v_low) / 2;
            select j.id, j.created_at into v_id, v_created_at
            from procrastinate_jobs as j
            where j.id >= v_mid
            order by j.id
            limit 1;
            if v_id is null or v_created_at > p_created_to + v_slack then
                v_high := v_mid;
            else
                v_low := v_id + 1;
            end if;
        end loop;
        v_last := least(v_low - 1, v_max);
    end if;
    if v_first > v_last then
        return;
    end if;
    first_id := v_first;
    last_id := v_last;
    return next;
end;
$$;

-- One page of jobs matching every non-null filter, newest first, by keyset:
-- the jobs with an id below p_before_id (null: from the newest). Never an
-- OFFSET, whose cost grows with the page number: the next page starts at
-- the last id shown, through the primary key. p_after_id: the page reads
-- ids above it only (the dashboard searches a slice of ids at a time, so
-- that a filter few jobs match never reads the whole table in one request);
-- p_args: jobs whose args contain this JSON object (jsonb containment, @>);
-- a range of creation times (p_created_from included, p_created_to excluded).
create function procrastinate_dashboard_jobs_v2(
    p_queue text default null,
    p_task text default null,
    p_status text default null,
    p_lock text default null,
    p_worker_id bigint default null,
    p_before_id bigint default null,
    p_limit integer default 50,
    p_after_id bigint default null,
    p_args jsonb default null,
    p_created_from timestamptz default null,
    p_created_to timestamptz default null
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
        raise exception 'listing jobs needs the worker, operator or reader role'
            using errcode = '42501';
    end if;
    if p_limit is null or p_limit < 1 or p_limit > 500 then
        raise exception 'p_limit must be between 1 and 500, got %', coalesce(p_limit::text, 'null')
            using errcode = 'PT001';
    end if;
    if p_args is not null and jsonb_typeof(p_args) <> 'object' then
        raise exception 'p_args must be a JSON object (jobs whose args contain it), got %',
            jsonb_typeof(p_args)
            using errcode = 'PT001';
    end if;
    return query
    select
        j.id, j.queue_name, j.task_name, j.status, j.lock, j.attempts, j.worker_id,
        j.scheduled_at, j.created_at, j.started_at, j.finished_at
    from procrastinate_jobs as j
    where
        (p_before_id is null or j.id < p_before_id)
        and (p_after_id is null or j.id > p_after_id)
        and (p_queue is null or j.queue_name = p_queue)
        and (p_task is null or j.task_name = p_task)
        and (p_status is null or j.status::text = p_status)
        and (p_lock is null or j.lock = p_lock)
        and (p_worker_id is null or j.worker_id = p_worker_id)
        and (p_args is null or j.args @> p_args)
        and (p_created_from is null or j.created_at >= p_created_from)
        and (p_created_to is null or j.created_at < p_created_to)
    order by j.id desc
    limit p_limit;
end;
$$;

-- The page of jobs of the dashboards of the release before:
-- procrastinate_dashboard_jobs_v2 without its newer filters (it checks the
-- caller's role and the limit).
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
language sql
stable
set search_path = pg_catalog, public, pg_temp
as $$
    select j.*
    from procrastinate_dashboard_jobs_v2(
        p_queue, p_task, p_status, p_lock, p_worker_id, p_before_id, p_limit
    ) as j;
$$;

-- The workers page: procrastinate_worker_stats, live workers first, for the
-- roles that see every job.
create function procrastinate_dashboard_workers_v1()
returns setof procrastinate_worker_stats
language plpgsql
stable
security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
    if not _procrastinate_sees_all_jobs() then
        raise exception 'listing workers needs the worker, operator or reader role'
            using errcode = '42501';
    end if;
    return query
    select w.* from procrastinate_worker_stats as w order by w.alive desc, w.id desc;
end;
$$;

comment on function procrastinate_dashboard_workers_v1() is
'Live and dead workers (procrastinate_worker_stats), alive first, for the dashboard.';
comment on function procrastinate_dashboard_throughput_v1(interval, integer, timestamptz) is
'Jobs succeeded and failed per queue and time bucket over p_since up to p_now (p_buckets
buckets aligned on their width); one row per queue and non-empty bucket.';
comment on function procrastinate_dashboard_id_bounds_v1(timestamptz, timestamptz) is
'The first and last job ids created in a time range (widened by 10 minutes), found through the
primary key: the jobs page walks the ids between them.';
comment on function procrastinate_dashboard_jobs_v2(
    text, text, text, text, bigint, bigint, integer, bigint, jsonb, timestamptz, timestamptz
) is
'One page of jobs, newest first, by keyset between p_after_id and p_before_id, filtered by
queue, task, status, lock, worker, args containment (@>) and creation time.';
