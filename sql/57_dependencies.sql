-- Dependencies: a job deferred "after" other jobs (its parents, the job
-- object's "after") waits until they end, then runs; with after_policy
-- 'succeeded' (the default) it is cancelled instead as soon as one of them
-- ends otherwise (failed for good, cancelled, aborted, deleted), with
-- 'always' it runs whatever they became. Fan-out and fan-in with no
-- coordinator: the end of a job, in the statement that ends it, releases or
-- cancels the jobs waiting for it.
--
-- A waiting dependent is an ordinary waiting job (todo) scheduled at
-- _procrastinate_held_until(): no claim ever walks that far in the scheduled
-- index, so the claim pays nothing for it, and jobs without dependencies pay
-- one test of has_dependents in the update trigger. A dependent that has a
-- lock holds the lock back while it waits, as any job scheduled later does.
-- procrastinate_job_dependencies keeps one row per parent not yet ended; the
-- parent's end takes its rows away, so that an end is counted once even if
-- the parent is retried and ends again.

-- The time a dependent job waits at: the latest that Python's datetime (and
-- every driver) can read, unlike 'infinity'.
create function _procrastinate_held_until()
returns timestamptz
language sql
immutable
parallel safe
set search_path = pg_catalog, public, pg_temp
as $$
    select '9999-12-31 00:00:00+00'::timestamptz;
$$;

-- Releases or cancels the jobs waiting for p_parent_ids, which just ended or
-- were deleted (a parent gone counts as not succeeded). Called by the update
-- and delete triggers and by the defer of jobs after parents that had ended.
create function _procrastinate_parents_ended(p_parent_ids bigint[])
returns void
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_children bigint[];
    v_cancelled bigint[];
    v_because bigint[];
begin
    with edge as (
        delete from procrastinate_job_dependencies as d
        where d.parent_id = any(p_parent_ids)
        returning d.parent_id, d.job_id
    ),

    judged as (
        select
            e.job_id,
            min(e.parent_id) filter (
                where c.after_policy = 'succeeded' and p.status is distinct from 'succeeded'
            ) as failed_parent
        from edge as e
        inner join procrastinate_jobs as c on c.id = e.job_id
        left join procrastinate_jobs as p on p.id = e.parent_id
        group by e.job_id
    )

    select
        array_agg(j.job_id order by j.job_id),
        array_agg(j.job_id order by j.job_id) filter (where j.failed_parent is not null),
        array_agg(j.failed_parent order by j.job_id) filter (where j.failed_parent is not null)
    into v_children, v_cancelled, v_because
    from judged as j;

    if v_cancelled is not null then
        -- the other parents of a cancelled job no longer matter
        delete from procrastinate_job_dependencies as d where d.job_id = any(v_cancelled);
        update procrastinate_jobs as j
        set
            status = 'cancelled',
            scheduled_at = null,
            finished_at = now(),
            last_error = format(
                'cancelled: job %s, which it was deferred after, ended %s',
                c.parent_id,
                coalesce((select p.status::text from procrastinate_jobs as p where p.id = c.parent_id),
                    'deleted')
            )
        from unnest(v_cancelled, v_because) as c (job_id, parent_id)
        where j.id = c.job_id and j.status = 'todo';
    end if;

    update procrastinate_jobs as j
    set scheduled_at = null
    where
        j.id = any(v_children)
        and j.status = 'todo'
        and j.scheduled_at = _procrastinate_held_until()
        and not exists (select 1 from procrastinate_job_dependencies as d where d.job_id = j.id);
end;
$$;

-- After an insert of jobs deferred after others (p_job_ids: their ids): each
-- parent must exist and be visible to the caller (a producer names its own
-- jobs only; the new jobs themselves do not count, so no job waits for
-- itself or for a job of its own batch: no cycle can form), else PT001 and
-- the whole defer is undone. The parents are locked and marked (a finish of
-- one of them waits for this transaction, then sees its dependents), the
-- dependencies recorded, and the parents that ended already applied now.
create function _procrastinate_link_parents(p_job_ids bigint[])
returns void
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_sees_all boolean := _procrastinate_sees_all_jobs();
    v_missing bigint;
    v_ended bigint[];
begin
    with wanted as (
        select distinct p.parent_id
        from procrastinate_jobs as j
        cross join unnest(j.parents) as p (parent_id)
        where j.id = any(p_job_ids)
    ),

    marked as (
        update procrastinate_jobs as p
        set has_dependents = true
        from wanted as w
        where
            p.id = w.parent_id
            and p.id <> all(p_job_ids)
            and (v_sees_all or p.deferred_by = session_user)
        returning p.id, p.status
    )

    select
        min(w.parent_id) filter (where m.id is null),
        array_agg(m.id) filter (where m.status not in ('todo', 'doing'))
    into v_missing, v_ended
    from wanted as w
    left join marked as m on m.id = w.parent_id;

    if v_missing is not null then
        raise exception 'after names job %, which does not exist', v_missing
            using errcode = 'PT001',
                hint = 'A job can only be deferred after jobs that exist already.';
    end if;

    insert into procrastinate_job_dependencies (parent_id, job_id)
    select distinct p.parent_id, j.id
    from procrastinate_jobs as j
    cross join unnest(j.parents) as p (parent_id)
    where j.id = any(p_job_ids);

    if v_ended is not null then
        perform _procrastinate_parents_ended(v_ended);
    end if;
end;
$$;

-- After the delete of a job others were deferred after: if it had not
-- ended, its dependents are released or cancelled (after_policy; a parent
-- gone counts as not succeeded); one that had ended has no rows left. A row
-- trigger, whose condition the server tests without calling any function:
-- other deletes pay nothing. A statement trigger cost every finish a call,
-- as a finish's delete runs even when it deletes no job.
create function _procrastinate_release_dependents_of_deleted_job()
returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
    perform _procrastinate_parents_ended(array[old.id]);
    return null;
end;
$$;

create trigger procrastinate_jobs_delete_dependents_v2
after delete on procrastinate_jobs
for each row
when (old.has_dependents)
execute function _procrastinate_release_dependents_of_deleted_job();
