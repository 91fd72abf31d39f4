-- Leases: a worker holds the jobs it claimed for as long as its lease runs.
-- The lease is renewed by every call that shows the worker alive (a
-- heartbeat, a fetch, a finish) and runs out a lease's length (its
-- stalled_after, else the setting stalled_worker_timeout) after the last of
-- them, on the server's clock. Only then may its jobs be rescued
-- (65_rescue.sql). A worker that cannot renew stops its jobs itself before
-- its lease runs out (docs/reliability.md), so that a job, and a lock, never
-- has two live runs at once.

-- The length of a worker's lease.
create function _procrastinate_lease(p_stalled_after double precision)
returns interval
language sql
stable
set search_path = pg_catalog, public, pg_temp
as $$
    select make_interval(secs => coalesce(
        p_stalled_after,
        (select s.stalled_worker_timeout from procrastinate_settings as s)
    ));
$$;

-- Whether a lease renewed at p_renewed_at has run out at p_now. It is counted
-- from the server's start at the earliest: after a crash or a restart, every
-- worker gets a whole lease to reconnect before anyone takes its jobs (the
-- first worker back would otherwise find all the others silent).
create function _procrastinate_lease_expired(
    p_renewed_at timestamptz,
    p_stalled_after double precision,
    p_now timestamptz
)
returns boolean
language sql
stable
set search_path = pg_catalog, public, pg_temp
as $$
    select greatest(p_renewed_at, pg_postmaster_start_time())
        < p_now - _procrastinate_lease(p_stalled_after);
$$;

-- Renews a worker's lease at p_now; returns whether the worker is still
-- registered. A lease that had run out restarts alive_since: the worker may
-- rescue others only a lease later (65_rescue.sql).
-- p_skip_locked: fetch and finish renew in passing and skip the row while
-- another call of the same worker renews it (then it returns null, without
-- waiting); a heartbeat waits, so that it cannot miss a rescue removing the
-- worker at that moment.
create function _procrastinate_renew_lease(
    p_worker_id bigint,
    p_now timestamptz,
    p_skip_locked boolean
)
returns boolean
language plpgsql
set search_path = pg_catalog, public, pg_temp
-- Its plans are cached with the settings of its first caller (a claim turns
-- sequential scans off): a cost estimated then must not turn JIT on for a
-- later caller (a heartbeat, a report), at hundreds of milliseconds a call.
set jit = off
as $$
begin
    if p_worker_id is null then
        return null;
    end if;
    -- Where the settings allow it, the transaction of a worker's claim,
    -- report or heartbeat (the callers) commits without waiting for the
    -- disk: a commit lost in a crash of the server is a claim or a report
    -- the worker makes again, at least once (docs/reliability.md).
    if not (
        select s.worker_synchronous_commit from procrastinate_settings as s where s.singleton
    ) then
        perform set_config('synchronous_commit', 'off', true);
    end if;
    if p_skip_locked then
        perform
        from procrastinate_workers as w
        where w.id = p_worker_id
        for update skip locked;
        if not found then
            return null;
        end if;
    end if;
    update procrastinate_workers as w
    set
        last_heartbeat = greatest(w.last_heartbeat, p_now),
        alive_since = case
            when _procrastinate_lease_expired(w.last_heartbeat, w.stalled_after, p_now)
                then p_now
            else coalesce(w.alive_since, w.started_at)
        end
    where w.id = p_worker_id;
    return found;
end;
$$;
