-- procrastinate_settings.worker_synchronous_commit (issue 16): false lets
-- the claims, reports and heartbeats of registered workers commit without
-- waiting for their WAL to reach the disk. _procrastinate_renew_lease, which
-- each of them calls, turns synchronous_commit off for the rest of that
-- transaction when the setting says so. The default (true) changes nothing.
-- The column is added with a constant default to the one-row settings table
-- (no rewrite); a function otherwise.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

alter table procrastinate_settings
add column worker_synchronous_commit boolean not null default true;

comment on table procrastinate_settings is
'Limits and defaults of the queue (one row): max_args_bytes and max_args_depth bound the args
of a deferred job; stalled_worker_timeout (seconds) is the lease of workers that register
without their own; max_rescues bounds how often one job is rescued; max_result_bytes bounds
a stored result; worker_synchronous_commit false lets the claims, reports and heartbeats of
registered workers commit without waiting for the disk (at-least-once still holds: a lost
claim or report is made again). Only the schema owner
may change them (update procrastinate_settings set ...); the checks are hard caps.';

create or replace function _procrastinate_renew_lease(
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
