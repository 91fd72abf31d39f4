-- A job's events came in another order than procrastinate 3.x's (issue 20):
-- 3.x's row triggers fire by name, so a job deferred with a schedule got
-- scheduled before deferred, a retry for later scheduled before
-- deferred_for_retry, and an abort request comes before the status change of
-- the same statement. The same events, now in that order. Same signatures.
-- A post migration: the code does not depend on it, and a pre after the post
-- migrations 0020-0030 would block the procrastinate 3.x conversion.
-- Replacing a trigger function takes no lock on the queue's tables; the
-- timeouts bound the wait on the catalog should anything hold it.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

-- Records deferred (and scheduled) events for inserted jobs. A job's events
-- come in procrastinate 3.x's order (its row triggers fired by name): an
-- abort request and a new schedule before the status change they came with
-- (scheduled, then deferred or deferred_for_retry).
create or replace function _procrastinate_record_insert_events()
returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
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

-- Records status changes, abort requests and new schedules of updated jobs.
-- Claims and finishes change a status and nothing else: their events come
-- from one plain join; the rarer abort requests and schedules from another
-- insert, entered only when some job may have one, before the status events
-- (3.x's order, above). One query for all three kinds was 23% of the time of
-- a fetch + finish; this shape saves about a fifth of that.
create or replace function _procrastinate_record_update_events()
returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
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
    where o.status <> n.status;
    return null;
end;
$$;
