-- Rescue: the jobs of a worker whose lease ran out (58_leases.sql) are taken
-- back automatically. Live workers call this on each heartbeat tick; no user
-- code and no periodic task is needed. SKIP LOCKED lets many workers call it
-- at once without waiting on each other. Every rule of the stall protocol is
-- here and in 58_leases.sql: the lease of each worker (its stalled_after, or
-- the setting stalled_worker_timeout, counted from its last sign of life and
-- never from before the server started), the rescue limit (setting
-- max_rescues), and who may rescue. A job with a timeout is also taken back
-- once past its deadline (set by its claim, 30_fetch.sql) and a grace,
-- whether its worker is alive or not: that worker hangs or cannot stop it.

-- The grace after a job's deadline before the rescue takes it back: the
-- time its worker has to stop the run at the deadline and report it.
create function _procrastinate_timeout_grace()
returns interval
language sql
immutable
set search_path = pg_catalog, public, pg_temp
as $$
    select interval '10 seconds';
$$;

-- Takes jobs back from the worker that held them, their run counted as an
-- attempt and a rescue: back to todo unless this is their max_rescues-th
-- rescue or their retry policy is exhausted (then they end failed: a lost
-- run counts, and a job deferred with max_runs 1 has had its run), or their
-- abort was requested (aborted). A job with no retry policy is requeued too:
-- losing its run is not the job's failure. p_why completes "worker N ..." in
-- last_error. The caller has locked the rows; jobs no longer in doing are
-- left alone. Returns the jobs taken back and their new status.
create function _procrastinate_take_back_jobs(
    p_job_ids bigint[],
    p_now timestamptz,
    p_why text,
    p_error_type text
)
returns table (job_id bigint, status procrastinate_job_status)
language sql
set search_path = pg_catalog, public, pg_temp
-- called on every heartbeat: an estimate from an unanalyzed settings table
-- must not make it pay for JIT compilation
set jit = off
as $$
    with settings as (
        select s.max_rescues from procrastinate_settings as s
    ),

    decided as (
        select
            j.id,
            s.max_rescues,
            case
                when j.abort_requested then 'aborted'
                when
                    j.rescue_count + 1 >= s.max_rescues
                    or (j.max_attempts > 0 and j.attempts + 1 > j.max_attempts)
                    or j.retry_exceptions = array['(max_runs 1: never retried)']
                    then 'failed'
                else 'todo'
            end::procrastinate_job_status as new_status
        from procrastinate_jobs as j
        cross join settings as s
        where j.id = any(p_job_ids) and j.status = 'doing'
    ),

    taken as (
        update procrastinate_jobs as j
        set
            status = d.new_status,
            attempts = j.attempts + 1,
            rescue_count = j.rescue_count + 1,
            worker_id = null,
            claim_token = null,
            abort_requested = false,
            -- an end (failed or aborted) is final; a job back in todo is not
            finished_at = case when d.new_status <> 'todo' then p_now end,
            last_error = format(
                'worker %s %s (rescue %s of at most %s)',
                j.worker_id, p_why, j.rescue_count + 1, d.max_rescues
            ),
            last_error_types = array[p_error_type]
        from decided as d
        where j.id = d.id
        returning j.id, j.status
    )

    select t.id, t.status from taken as t
    order by t.id;
$$;

-- Takes back the jobs of workers whose lease ran out (see
-- _procrastinate_take_back_jobs for what becomes of them).
-- The caller (p_worker_id) may rescue unless its own lease ran out less than
-- a lease ago: after an outage that cut every worker off, the live ones get a
-- lease to renew theirs before anyone takes their jobs. A worker whose lease
-- never ran out since it registered may rescue at once (a worker started
-- after another died takes the dead one's jobs). A trusted session (an
-- operator, when no worker is alive) may call it with a null p_worker_id.
-- Jobs past their deadline and the grace are taken back too, from live
-- workers as well (one walk of procrastinate_jobs_deadline_idx_v1, which
-- holds the running jobs with a timeout only). Dead workers holding no more
-- jobs are removed. Returns the rescued jobs.
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
    v_silent bigint[];
    v_stalled bigint[];
    v_overdue bigint[];
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
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

    v_silent := array(
        select w.id
        from procrastinate_workers as w
        where _procrastinate_lease_expired(w.last_heartbeat, w.stalled_after, v_now)
    );
    -- held by a silent worker, or by one whose row is gone altogether
    v_stalled := array(
        select j.id
        from procrastinate_jobs as j
        left join procrastinate_workers as w on j.worker_id = w.id
        where
            j.status = 'doing'
            and j.worker_id is not null
            and (w.id is null or w.id = any(v_silent))
        order by j.id
        for update of j skip locked
    );
    return query
    select t.job_id, t.status
    from _procrastinate_take_back_jobs(
        v_stalled, v_now, 'stopped heartbeating while running this job', 'WorkerStalled'
    ) as t;

    -- still running past their deadline (those just taken back are todo now)
    v_overdue := array(
        select j.id
        from procrastinate_jobs as j
        where
            j.status = 'doing'
            and j.deadline is not null
            and j.deadline < v_now - _procrastinate_timeout_grace()
        order by j.id
        for update of j skip locked
    );
    if v_overdue <> '{}' then
        return query
        select t.job_id, t.status
        from _procrastinate_take_back_jobs(
            v_overdue, v_now, 'did not end this job by its deadline (its timeout)',
            'procrastinate.exceptions.JobTimeout'
        ) as t;
    end if;

    delete from procrastinate_workers as w
    where
        w.id = any(v_silent)
        and not exists (
            select 1
            from procrastinate_jobs as j
            where j.worker_id = w.id and j.status = 'doing'
        );
end;
$$;

-- Compares what a worker holds with what the database says it holds, and
-- mends the difference. p_held lists every job the worker has claimed and
-- not yet seen reported: claimed ahead, running, or its outcome on the way.
-- Call it when no fetch of the worker is in flight (one claimed meanwhile
-- would look lost).
-- - A job the database gives to the worker but missing from p_held lost its
--   run: a failover to a standby that had not received the worker's
--   report (a worker keeps the jobs whose outcome the database refused for
--   good in p_held: they go back when it unregisters). Its lease would never
--   run out (the worker is alive), so it is taken back here, as
--   a rescue would (worker_knew false, its new status).
-- - A job in p_held the database does not give to the worker (a claim lost
--   in a failover, a rescue while the worker was cut off) is not the
--   worker's to run: it should stop the run and drop its outcome
--   (worker_knew true, the job's status, null if it is gone).
create function procrastinate_reconcile_held_jobs_v1(
    p_worker_id bigint,
    p_held bigint[],
    p_now timestamptz default null
)
returns table (job_id bigint, worker_knew boolean, status procrastinate_job_status)
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_lost bigint[];
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if p_worker_id is null or p_held is null then
        raise exception 'a worker id and the list of the jobs it holds are needed (an empty array: none)'
            using errcode = '22004';
    end if;
    perform _procrastinate_check_worker(p_worker_id);
    -- a set difference (hashed), not "<> all(p_held)" per row nor a join the
    -- planner would nest (it takes unnest for 10 rows): a worker running a
    -- thousand jobs compared each with each
    v_lost := array(
        select j.id
        from procrastinate_jobs as j
        where j.id = any(array(
            select d.id
            from procrastinate_jobs as d
            where d.worker_id = p_worker_id and d.status = 'doing'
            except
            select h.id from unnest(p_held) as h (id)
        ))
        and j.worker_id = p_worker_id
        and j.status = 'doing'
        order by j.id
        for update of j
    );
    return query
    select t.job_id, false, t.status
    from _procrastinate_take_back_jobs(
        v_lost, v_now,
        'no longer held this job: its outcome was lost, as in a failover',
        'OutcomeLost'
    ) as t;

    return query
    select h.id, true, j.status
    from unnest(p_held) as h (id)
    left join procrastinate_jobs as j on h.id = j.id
    where j.id is null or j.status <> 'doing' or j.worker_id is distinct from p_worker_id
    order by h.id;
end;
$$;
