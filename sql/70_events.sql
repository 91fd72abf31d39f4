-- Events: every transition of a job is recorded in procrastinate_events, so
-- that history is one query away in psql. Statement-level triggers with
-- transition tables: one insert per statement, however many jobs it touched.

-- How much is recorded is procrastinate_settings.history, read once per
-- statement (a change applies to the statements that start after it commits):
-- - 'full' (the default): every event below;
-- - 'outcomes': all but the events of the normal path, 'deferred', 'started'
--   and 'released' (a claim given back unstarted); a job that ran once and
--   succeeded keeps one event, 'succeeded'. Schedules, retries, abort
--   requests and every end ('succeeded', 'failed', 'cancelled', 'aborted')
--   are kept, so the dashboard's charts count the same;
-- - 'none': nothing; the triggers return before reading their transition
--   tables (PostgreSQL still fills those: their cost stays).
-- Deleting a job deletes its events at every level (events recorded under
-- another level may remain).

-- Every event takes its time from the job row when the row has it (created_at,
-- started_at, finished_at, scheduled_at), so that a clock pinned by a
-- function's p_now reaches the history; now() only for the moves that have
-- no time column (retries, releases, abort requests).

-- Records deferred (and scheduled) events for inserted jobs, at the level of
-- procrastinate_settings.history. A job's events come in procrastinate 3.x's
-- order (its row triggers fired by name): an abort request and a new
-- schedule before the status change they came with (scheduled, then deferred
-- or deferred_for_retry).
create function _procrastinate_record_insert_events()
returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_history text := (select s.history from procrastinate_settings as s where s.singleton);
begin
    if v_history = 'none' then
        return null;
    end if;
    if v_history = 'outcomes' then
        insert into procrastinate_events (job_id, type, at)
        select n.id, 'scheduled', n.scheduled_at
        from new_jobs as n
        where n.scheduled_at is not null;
        return null;
    end if;
    insert into procrastinate_events (job_id, type, at)
    select n.id, e.type, e.at
    from new_jobs as n
    cross join lateral (
        values
        ('scheduled'::procrastinate_job_event_type, n.scheduled_at),
        ('deferred'::procrastinate_job_event_type, n.created_at)
    ) as e (type, at)
    where e.type = 'deferred' or n.scheduled_at is not null;
    return null;
end;
$$;

-- Records status changes, abort requests and new schedules of updated jobs,
-- at the level of procrastinate_settings.history.
-- Claims and finishes change a status and nothing else: their events come
-- from one plain join; the rarer abort requests and schedules from another
-- insert, entered only when some job may have one, before the status events
-- (3.x's order, above). One query for all three kinds was 23% of the time of
-- a fetch + finish; this shape saves about a fifth of that.
create function _procrastinate_record_update_events()
returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
-- The old and new rows are joined by hash, whatever the size of the
-- statement: a plan is cached with the size of the first statement the
-- session saw, and after a claim of one job, a nested loop joined the rows
-- of a claim of 8,000 in 6.5 s (each row compared with each: a worker whose
-- report of a few thousand outcomes took seconds sent ever bigger ones).
-- No estimate may turn JIT on either.
set enable_nestloop = off
set jit = off
as $$
declare
    v_history text := (select s.history from procrastinate_settings as s where s.singleton);
begin
    if v_history = 'none' then
        return null;
    end if;
    if exists (
        select 1 from new_jobs as n
        where n.abort_requested or (n.status = 'todo' and n.scheduled_at is not null)
    ) then
        insert into procrastinate_events (job_id, type, at)
        select n.id, e.type, coalesce(e.at, now())
        from old_jobs as o
        inner join new_jobs as n on o.id = n.id
        cross join lateral (
            values
            (
                case
                    when n.abort_requested and not o.abort_requested then 'abort_requested'
                end::procrastinate_job_event_type,
                null::timestamptz
            ),
            (
                case
                    when
                        n.status = 'todo'
                        and n.scheduled_at is not null
                        and (o.status <> 'todo' or o.scheduled_at is distinct from n.scheduled_at)
                        then 'scheduled'
                end::procrastinate_job_event_type,
                n.scheduled_at
            )
        ) as e (type, at)
        where e.type is not null;
    end if;

    insert into procrastinate_events (job_id, type, at)
    select
        n.id,
        case
            when n.status = 'doing' then 'started'
            -- given back unstarted (prefetch): no attempt was counted
            when n.status = 'todo' and o.status = 'doing' and n.attempts = o.attempts
                then 'released'
            when n.status = 'todo' and o.status = 'doing' then 'deferred_for_retry'
            when n.status = 'todo' then 'retried'
            else n.status::text
        end::procrastinate_job_event_type,
        case
            when n.status = 'doing' then coalesce(n.started_at, now())
            when n.status = 'todo' then now()
            else coalesce(n.finished_at, now())
        end
    from old_jobs as o
    inner join new_jobs as n on o.id = n.id
    where
        o.status <> n.status
        -- 'outcomes': no 'started' (a claim's rows are all filtered out before
        -- the join) and no 'released'
        and (
            v_history = 'full'
            or (
                n.status <> 'doing'
                and not (n.status = 'todo' and o.status = 'doing' and n.attempts = o.attempts)
            )
        );
    return null;
end;
$$;

-- Deletes the history of deleted jobs (what a cascading foreign key would do,
-- once per statement instead of once per event row).
create function _procrastinate_delete_events()
returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
    delete from procrastinate_events as e
    using old_jobs as o
    where e.job_id = o.id;
    return null;
end;
$$;

create trigger procrastinate_jobs_insert_events_v1
after insert on procrastinate_jobs
referencing new table as new_jobs
for each statement
execute function _procrastinate_record_insert_events();

create trigger procrastinate_jobs_update_events_v1
after update on procrastinate_jobs
referencing old table as old_jobs new table as new_jobs
for each statement
execute function _procrastinate_record_update_events();

create trigger procrastinate_jobs_delete_events_v1
after delete on procrastinate_jobs
referencing old table as old_jobs
for each statement
execute function _procrastinate_delete_events();
