-- Notifications: listening workers are woken when jobs become available now
-- and when an abort is requested. One NOTIFY per statement, on the fixed
-- channel 'procrastinate'; queue names travel in the JSON payload, never in
-- a channel name, so any queue name works.

-- Sends one notification: the payload keeps its list (queues or job ids) only
-- while it fits PostgreSQL's 8000-byte limit, else the list is null, which
-- listeners read as "check the database".
create function _procrastinate_notify(p_type text, p_key text, p_list jsonb)
returns void
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_payload text;
begin
    v_payload := jsonb_build_object('type', p_type, p_key, p_list)::text;
    if octet_length(v_payload) > 7900 then
        v_payload := jsonb_build_object('type', p_type, p_key, null)::text;
    end if;
    perform pg_notify('procrastinate', v_payload);
end;
$$;

-- After an insert: wake workers of the queues that got jobs runnable now.
create function _procrastinate_notify_inserted_jobs()
returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_queues jsonb;
begin
    select jsonb_agg(distinct n.queue_name) into v_queues
    from new_jobs as n
    where n.status = 'todo' and (n.scheduled_at is null or n.scheduled_at <= now());
    if v_queues is not null then
        perform _procrastinate_notify('job_available', 'queues', v_queues);
    end if;
    return null;
end;
$$;

-- After an update: wake workers for jobs back in todo and runnable now
-- (retries, manual retries), for jobs waiting on a lock that a job just
-- released, and the worker running a job whose abort was just requested;
-- tell those waiting for jobs deferred with store_result that they ended
-- ('job_finished': other jobs are not announced, which keeps a finish cheap;
-- their waiters poll); and release or cancel the jobs deferred after jobs
-- that just ended (57_dependencies.sql).
create function _procrastinate_notify_updated_jobs()
returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
-- the probe of the next job of a lock walks its index in order, whatever the
-- statistics say (a bitmap scan would read every job of the lock to sort them)
set enable_bitmapscan = off
set enable_seqscan = off
-- the old and new rows are joined by hash whatever the size of the statement
-- (see _procrastinate_record_update_events); the probes above stay nested
-- loops (a lateral subquery has no other plan). No estimate may turn JIT on.
set enable_nestloop = off
set jit = off
as $$
declare
    v_queues jsonb;
    v_job_ids jsonb;
    v_finished jsonb;
    v_parents_ended boolean;
    v_parents bigint[];
    v_more boolean;
begin
    -- Most updates are claims (todo -> doing) and finishes of plain jobs:
    -- nothing below applies to them, and this test is all they pay (5% of a
    -- fetch + finish when it was a join of the old and new rows; the pass
    -- below, with its aggregates, costs twice this test). A lock is released
    -- only by a job leaving doing: the claim of a locked job (new status
    -- doing) needs nothing here.
    if not exists (
        select 1 from new_jobs as n
        where
            n.status = 'todo'
            or (n.lock is not null and n.status <> 'doing')
            or n.abort_requested
            or ((n.store_result or n.has_dependents) and n.status not in ('todo', 'doing'))
    ) then
        return null;
    end if;

    -- One pass over the new rows says which cases apply. The end of a job
    -- that keeps its result is announced from the new row alone (one that
    -- stayed ended, announced again, is read again by its waiters).
    select
        jsonb_agg(n.id order by n.id) filter (
            where n.store_result and n.status not in ('todo', 'doing')
        ),
        coalesce(bool_or(n.has_dependents and n.status not in ('todo', 'doing')), false),
        coalesce(
            bool_or(
                n.status = 'todo' or (n.lock is not null and n.status <> 'doing') or n.abort_requested
            ),
            false
        )
    into v_finished, v_parents_ended, v_more
    from new_jobs as n;

    if v_parents_ended then
        select array_agg(n.id) into v_parents
        from old_jobs as o
        inner join new_jobs as n on o.id = n.id
        where
            n.has_dependents
            and n.status not in ('todo', 'doing')
            and o.status in ('todo', 'doing');
        if v_parents is not null then
            -- its own updates come back here: the cancelled dependents' dependents
            perform _procrastinate_parents_ended(v_parents);
        end if;
    end if;

    if v_more then
        with changed as (
            select
                o.status as old_status,
                o.queue_name as old_queue,
                o.abort_requested as old_abort,
                o.scheduled_at as old_scheduled_at,
                n.*
            from old_jobs as o
            inner join new_jobs as n on o.id = n.id
        ),

        -- locks that a job of this statement held and released
        released as materialized (
            select c.lock
            from changed as c
            where c.old_status = 'doing' and c.status <> 'doing' and c.lock is not null
        ),

        -- The next job of each released lock is one probe of
        -- procrastinate_jobs_lock_order_idx_v2 (reading all the jobs waiting
        -- for a lock made a finish cost grow with them), but a worker
        -- reporting a hundred jobs of a hundred locks paid a hundred probes,
        -- a quarter of its finish. Usually every job waiting on a lock is in
        -- one queue: then the next job of the first released lock that has
        -- one, if it is not scheduled, names the queue to wake, and the other
        -- locks need no probe. One queue: no waiting job with a lock in
        -- another queue, nor a scheduled job (it may be due) in another
        -- queue; four probes of the per-queue indexes, before and after the
        -- queue's key (queue names of one md5 would only miss a wakeup:
        -- workers poll). Otherwise every released lock is probed, as before;
        -- none if no released lock has a next job (first_next probed them all).
        first_next as (
            select w.queue_name, w.scheduled_at
            from released as r
            cross join lateral (
                select n.queue_name, n.scheduled_at
                from procrastinate_jobs as n
                where md5(n.lock) = md5(r.lock) and n.lock = r.lock and n.status = 'todo'
                order by n.priority desc, n.id asc
                limit 1
            ) as w
            limit 1
        ),

        -- (scalar subqueries: the planner would turn a NOT EXISTS into a join
        -- that reads every row on the other side of the key)
        only_queue as (
            select f.queue_name
            from first_next as f
            where
                f.scheduled_at is null
                and (
                    select 1 from procrastinate_jobs as j
                    where
                        j.status = 'todo' and j.scheduled_at is null and j.lock is not null
                        and md5(j.queue_name) < md5(f.queue_name)
                    limit 1
                ) is null
                and (
                    select 1 from procrastinate_jobs as j
                    where
                        j.status = 'todo' and j.scheduled_at is null and j.lock is not null
                        and md5(j.queue_name) > md5(f.queue_name)
                    limit 1
                ) is null
                and (
                    select 1 from procrastinate_jobs as j
                    where
                        j.status = 'todo' and j.scheduled_at is not null
                        and md5(j.queue_name) < md5(f.queue_name)
                    limit 1
                ) is null
                and (
                    select 1 from procrastinate_jobs as j
                    where
                        j.status = 'todo' and j.scheduled_at is not null
                        and md5(j.queue_name) > md5(f.queue_name)
                    limit 1
                ) is null
        ),

        available as (
            select c.queue_name
            from changed as c
            where
                c.status = 'todo'
                and (c.scheduled_at is null or c.scheduled_at <= now())
                and (
                    c.old_status <> 'todo'
                    or c.old_queue <> c.queue_name
                    -- a dependent released by the end of its parents
                    or c.old_scheduled_at = _procrastinate_held_until()
                )
            union
            select o.queue_name from only_queue as o
            union
            -- the general case: the next job of each released lock, if it
            -- may run now
            select w.queue_name
            from released as r
            cross join lateral (
                select n.queue_name, n.scheduled_at
                from procrastinate_jobs as n
                where
                    md5(n.lock) = md5(r.lock)
                    and n.lock = r.lock
                    and n.status = 'todo'
                order by n.priority desc, n.id asc
                limit 1
            ) as w
            where
                exists (select 1 from first_next)
                and not exists (select 1 from only_queue)
                and (w.scheduled_at is null or w.scheduled_at <= now())
        )

        select
            (select jsonb_agg(distinct a.queue_name) from available as a),
            (
                select jsonb_agg(c.id order by c.id)
                from changed as c
                where c.abort_requested and not c.old_abort
            )
        into v_queues, v_job_ids;
    end if;

    if v_queues is not null then
        perform _procrastinate_notify('job_available', 'queues', v_queues);
    end if;
    if v_job_ids is not null then
        perform _procrastinate_notify('abort_requested', 'job_ids', v_job_ids);
    end if;
    if v_finished is not null then
        perform _procrastinate_notify('job_finished', 'job_ids', v_finished);
    end if;
    return null;
end;
$$;

create trigger procrastinate_jobs_notify_insert_v1
after insert on procrastinate_jobs
referencing new table as new_jobs
for each statement
execute function _procrastinate_notify_inserted_jobs();

create trigger procrastinate_jobs_notify_update_v1
after update on procrastinate_jobs
referencing old table as old_jobs new table as new_jobs
for each statement
execute function _procrastinate_notify_updated_jobs();
