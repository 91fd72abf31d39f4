-- Who may do what, decided in one place. The functions the roles of
-- sql/optional/roles.sql call run as the schema owner (security definer) and
-- ask these helpers first:
-- - only a trusted session (superuser, member of the schema owner or of
--   procrastinate_operator) may pin the clock (p_now) of a function;
-- - a worker id may be used only by the login role that registered it (or a
--   trusted session): a worker login cannot report, beat or fetch for another;
-- - a producer sees only the jobs its own login role deferred.
-- Internal: never granted to a role. Every function of the queue pins its
-- search_path with pg_temp last, so that no temporary object of a caller can
-- stand in for one of ours.

-- True when the session may act as the owner of the queue.
create function _procrastinate_trusted()
returns boolean
language sql
stable
set search_path = pg_catalog, public, pg_temp
as $$
    select
        coalesce((select r.rolsuper from pg_roles as r where r.rolname = session_user), false)
        or pg_has_role(
            session_user,
            (select c.relowner from pg_class as c where c.oid = 'procrastinate_jobs'::regclass),
            'member'
        )
        or coalesce(
            pg_has_role(session_user, to_regrole('procrastinate_operator'), 'member'), false
        );
$$;

-- Raises 42501 unless the session is trusted: called by every function whose
-- p_now is given, before it uses that clock (tests, replays). A worker must
-- not move its heartbeat, claim jobs scheduled for later or rescue others'
-- jobs early. Not called when p_now is null (the hot path: no extra call).
create function _procrastinate_check_clock()
returns void
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
as $$
begin
    if not _procrastinate_trusted() then
        raise exception 'p_now may only be set by the owner of the queue or an operator'
            using errcode = '42501';
    end if;
end;
$$;

-- Raises 42501 unless the session may act for worker p_worker_id: the login
-- role that registered it, or a trusted session. An unknown or null id
-- passes: no running job can be held under it.
create function _procrastinate_check_worker(p_worker_id bigint)
returns void
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_registered_by text;
begin
    if p_worker_id is null then
        return;
    end if;
    select w.registered_by into v_registered_by
    from procrastinate_workers as w
    where w.id = p_worker_id;
    if not found or v_registered_by = session_user or _procrastinate_trusted() then
        return;
    end if;
    raise exception 'worker % was registered by another role', p_worker_id
        using errcode = '42501',
            hint = 'A worker id may only be used by the login role that registered it.';
end;
$$;

-- True when the session sees every job (a trusted session, a worker login,
-- or a reader: the read-only dashboard's role of sql/optional/roles.sql),
-- false for a producer, who sees only the jobs it deferred.
create function _procrastinate_sees_all_jobs()
returns boolean
language sql
stable
set search_path = pg_catalog, public, pg_temp
as $$
    select
        _procrastinate_trusted()
        or coalesce(
            pg_has_role(session_user, to_regrole('procrastinate_worker'), 'member'), false
        )
        or coalesce(
            pg_has_role(session_user, to_regrole('procrastinate_reader'), 'member'), false
        );
$$;
