-- Rescue: jobs held by a worker that stopped heartbeating are taken back
-- automatically. Live workers call this on each heartbeat tick; no user code
-- and no periodic task is needed. SKIP LOCKED lets many workers call it at
-- once without waiting on each other.

-- Takes back the jobs of workers silent for more than p_stalled_after
-- seconds. A rescued job goes back to todo (its run counted as an attempt)
-- unless this is its p_max_rescues-th rescue or its retry policy is
-- exhausted (then it ends failed), or its abort was requested (aborted).
-- A job with no retry policy is requeued too: a dead worker is not the
-- job's failure.
-- Dead workers holding no more jobs are removed. Returns the rescued jobs.
create function procrastinate_rescue_stalled_jobs_v1(
    p_stalled_after double precision,
    p_max_rescues integer default 3,
    p_now timestamptz default now()
)
returns table (job_id bigint, status procrastinate_job_status)
language plpgsql
set search_path = pg_catalog, public
as $$
begin
    if p_stalled_after is null or p_stalled_after <= 0 then
        raise exception 'p_stalled_after must be a positive number of seconds, got %',
            p_stalled_after
            using errcode = 'PT001';
    end if;

    return query
    with dead as (
        select w.id
        from procrastinate_workers as w
        where w.last_heartbeat < p_now - make_interval(secs => p_stalled_after)
    ),

    -- held by a silent worker, or by one whose row is gone altogether
    stalled as (
        select j.id
        from procrastinate_jobs as j
        left join procrastinate_workers as w on j.worker_id = w.id
        where
            j.status = 'doing'
            and j.worker_id is not null
            and (
                w.id is null
                or w.last_heartbeat < p_now - make_interval(secs => p_stalled_after)
            )
        order by j.id
        for update of j skip locked
    ),

    rescued as (
        update procrastinate_jobs as j
        set
            status = case
                when j.abort_requested then 'aborted'
                when
                    j.rescue_count + 1 >= p_max_rescues
                    or (j.max_attempts > 0 and j.attempts + 1 > j.max_attempts)
                    then 'failed'
                else 'todo'
            end::procrastinate_job_status,
            attempts = j.attempts + 1,
            rescue_count = j.rescue_count + 1,
            worker_id = null,
            abort_requested = false,
            finished_at = case
                when j.abort_requested or j.rescue_count + 1 >= p_max_rescues then p_now
                when j.max_attempts > 0 and j.attempts + 1 > j.max_attempts then p_now
            end,
            last_error = format(
                'worker %s stopped heartbeating while running this job (rescue %s of at most %s)',
                j.worker_id, j.rescue_count + 1, p_max_rescues
            ),
            last_error_types = array['WorkerStalled']
        from stalled as s
        where j.id = s.id
        returning j.id, j.status
    ),

    removed as (
        delete from procrastinate_workers as w
        using dead as d
        where
            w.id = d.id
            and not exists (
                select 1
                from procrastinate_jobs as j
                where j.worker_id = w.id and j.status = 'doing'
                    and j.id not in (select r.id from rescued as r)
            )
        returning w.id
    )

    select r.id, r.status from rescued as r
    order by r.id;
end;
$$;
