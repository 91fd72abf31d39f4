-- Rescue: the jobs of a worker whose lease ran out (58_leases.sql) are taken
-- back automatically. Live workers call this on each heartbeat tick; no user
-- code and no periodic task is needed. SKIP LOCKED lets many workers call it
-- at once without waiting on each other. Every rule of the stall protocol is
-- here and in 58_leases.sql: the lease of each worker (its stalled_after, or
-- the setting stalled_worker_timeout, counted from its last sign of life and
-- never from before the server started), the rescue limit (setting
-- max_rescues), and who may rescue.

-- Takes back the jobs of workers whose lease ran out. A rescued job goes back
-- to todo (its run counted as an attempt) unless this is its max_rescues-th
-- rescue or its retry policy is exhausted (then it ends failed), or its abort
-- was requested (aborted). A job with no retry policy is requeued too: a dead
-- worker is not the job's failure.
-- The caller (p_worker_id) may rescue unless its own lease ran out less than
-- a lease ago: after an outage that cut every worker off, the live ones get a
-- lease to renew theirs before anyone takes their jobs. A worker whose lease
-- never ran out since it registered may rescue at once (a worker started
-- after another died takes the dead one's jobs). A trusted session (an
-- operator, when no worker is alive) may call it with a null p_worker_id.
-- Dead workers holding no more jobs are removed. Returns the rescued jobs.
create function procrastinate_rescue_stalled_jobs_v2(
    p_worker_id bigint,
    p_now timestamptz default null
)
returns table (job_id bigint, status procrastinate_job_status)
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_settings procrastinate_settings;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    select s.* into v_settings from procrastinate_settings as s;
    if p_worker_id is null then
        if not _procrastinate_trusted() then
            raise exception 'only the owner of the queue or an operator may rescue without a worker id'
                using errcode = '42501';
        end if;
    else
        perform _procrastinate_check_worker(p_worker_id);
        if not exists (
            select 1
            from procrastinate_workers as w
            where
                w.id = p_worker_id
                and (
                    coalesce(w.alive_since, w.started_at) <= w.started_at
                    or w.alive_since <= v_now - _procrastinate_lease(w.stalled_after)
                )
        ) then
            return;
        end if;
    end if;

    return query
    with silent as (
        select w.id
        from procrastinate_workers as w
        where _procrastinate_lease_expired(w.last_heartbeat, w.stalled_after, v_now)
    ),

    -- held by a silent worker, or by one whose row is gone altogether
    stalled as (
        select j.id
        from procrastinate_jobs as j
        left join procrastinate_workers as w on j.worker_id = w.id
        where
            j.status = 'doing'
            and j.worker_id is not null
            and (w.id is null or w.id in (select s.id from silent as s))
        order by j.id
        for update of j skip locked
    ),

    rescued as (
        update procrastinate_jobs as j
        set
            status = case
                when j.abort_requested then 'aborted'
                when
                    j.rescue_count + 1 >= v_settings.max_rescues
                    or (j.max_attempts > 0 and j.attempts + 1 > j.max_attempts)
                    then 'failed'
                else 'todo'
            end::procrastinate_job_status,
            attempts = j.attempts + 1,
            rescue_count = j.rescue_count + 1,
            worker_id = null,
            claim_token = null,
            abort_requested = false,
            finished_at = case
                when j.abort_requested or j.rescue_count + 1 >= v_settings.max_rescues then v_now
                when j.max_attempts > 0 and j.attempts + 1 > j.max_attempts then v_now
            end,
            last_error = format(
                'worker %s stopped heartbeating while running this job (rescue %s of at most %s)',
                j.worker_id, j.rescue_count + 1, v_settings.max_rescues
            ),
            last_error_types = array['WorkerStalled']
        from stalled as s
        where j.id = s.id
        returning j.id, j.status
    ),

    removed as (
        delete from procrastinate_workers as w
        using silent as d
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
