-- Debounce and throttle: two ways of deferring under a queueing lock that do
-- not fail when the lock is taken (20_defer.sql raises PT002 then). A job
-- object with "debounce": seconds replaces the args of the job waiting with
-- its queueing lock and pushes its start to now + seconds; one with
-- "throttle": seconds creates at most one job per queueing lock per period,
-- counted from the defer that created it. Both return the id of the job that
-- stands for the defer (the waiting one, or the one of the period).
-- docs/flow-control.md tells the semantics.

-- The memory of throttle: per queueing lock, the last defer that opened a
-- period and the job it stood for. Kept apart from procrastinate_jobs so
-- that it outlives the job (its end, its deletion by retention);
-- procrastinate_remove_old_jobs_v1 deletes the periods that are over.
create table procrastinate_throttles (
    id bigint primary key generated always as identity,
    queueing_lock text not null,
    -- the defer that opened the period, and the job it created or found
    -- waiting (that job may have ended and been deleted since)
    deferred_at timestamptz not null,
    job_id bigint not null,
    -- defers before this time are dropped
    throttled_until timestamptz not null
);

-- One period per queueing lock (md5: a lock may be longer than a b-tree
-- entry, as procrastinate_jobs_queueing_lock_idx_v1).
create unique index procrastinate_throttles_lock_idx_v1
on procrastinate_throttles (md5(queueing_lock));

-- Defers one validated job object that has a debounce or a throttle (and a
-- queueing lock) at p_now; returns the id of the job that stands for it.
-- Called by procrastinate_defer_jobs_v2, one job at a time, in input order.
--
-- Debounce: lock the job waiting with the queueing lock and replace it; when
-- none waits, insert. A concurrent defer may insert first: the unique index
-- on waiting queueing locks refuses ours, and the loop locks that job
-- instead; the job may also start between (the lock then finds nothing and
-- the loop inserts). Concurrent defers of one key queue on the row lock of
-- the waiting job, so the last to commit leaves its args. A waiting job of
-- another task, of another login (deferred_by: a producer never rewrites
-- another's job), or deferred after others (held until they end) keeps the
-- lock: PT002, as for a plain defer; the same for throttle, which never
-- stands for such a job. The lookup comes first: an insert
-- refused by the unique index would cost a dead row in every index.
--
-- Throttle: a period still open is read without a lock, and the defer is
-- dropped. Otherwise the period is taken with one insert ... on conflict on
-- procrastinate_throttles: a concurrent defer of the same key waits for the
-- row, then sees the period open and returns its job. A new period whose job
-- cannot be inserted because a job still waits with the lock takes that
-- waiting job as its job (no second one waits).
create function _procrastinate_defer_deduplicated(p_job jsonb, p_now timestamptz)
returns bigint
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_lock text := p_job ->> 'queueing_lock';
    v_debounce double precision := (p_job ->> 'debounce')::double precision;
    v_throttle double precision := (p_job ->> 'throttle')::double precision;
    v_insert jsonb := p_job - 'debounce' - 'throttle';
    v_id bigint;
    v_task text;
    v_parents bigint[];
    v_deferred_by text;
    v_opened boolean;
    v_found boolean := false;
begin
    if v_debounce is not null then
        v_insert := v_insert || jsonb_build_object('scheduled_in', v_debounce);
    else
        select t.job_id into v_id
        from procrastinate_throttles as t
        where md5(t.queueing_lock) = md5(v_lock) and t.throttled_until > p_now;
        if v_id is not null then
            return v_id;
        end if;
        insert into procrastinate_throttles as t (
            queueing_lock, deferred_at, job_id, throttled_until
        )
        values (v_lock, p_now, 0, p_now + make_interval(secs => v_throttle))
        on conflict (md5(queueing_lock)) do update
            set
                queueing_lock = excluded.queueing_lock,
                deferred_at = excluded.deferred_at,
                job_id = 0,
                throttled_until = excluded.throttled_until
            where t.throttled_until <= excluded.deferred_at
        returning true into v_opened;
        if v_opened is null then
            -- a concurrent defer opened the period (the row is locked, its job set)
            select t.job_id into v_id
            from procrastinate_throttles as t
            where md5(t.queueing_lock) = md5(v_lock);
            return v_id;
        end if;
    end if;

    loop
        select j.id, j.task_name, j.parents, j.deferred_by
        into v_id, v_task, v_parents, v_deferred_by
        from procrastinate_jobs as j
        where
            md5(j.queueing_lock) = md5(v_lock)
            and j.queueing_lock = v_lock
            and j.status = 'todo'
            and j.attempts = 0
        for update;
        if v_id is not null then
            v_found := true;
            exit;
        end if;
        begin
            select i.id into v_id
            from _procrastinate_insert_jobs(jsonb_build_array(v_insert), p_now) as i;
            exit;
        exception
            when unique_violation then
                -- a concurrent defer inserted first: lock its job
                null;
        end;
    end loop;

    if v_found and (
        v_task <> p_job ->> 'task_name' or v_parents is not null
        or v_deferred_by is distinct from session_user
    ) then
        raise exception
            'queueing lock "%" is taken by a waiting job of another task or login, or held for its parents',
            v_lock
            using errcode = 'PT002',
                hint = 'Debounce and throttle stand for a waiting job of the same task, '
                    || 'deferred by the same login, and not waiting for parents.';
    end if;
    if v_found and v_debounce is not null then
        update procrastinate_jobs as j
        set
            args = coalesce(nullif(p_job -> 'args', 'null'::jsonb), '{}'::jsonb),
            scheduled_at = p_now + make_interval(secs => v_debounce),
            queue_name = coalesce(p_job ->> 'queue_name', j.queue_name),
            priority = coalesce((p_job ->> 'priority')::integer, j.priority),
            lock = coalesce(p_job ->> 'lock', j.lock),
            headers = coalesce(
                nullif(nullif(p_job -> 'headers', 'null'::jsonb), '{}'::jsonb), j.headers
            ),
            limit_key = coalesce(p_job ->> 'limit_key', j.limit_key),
            store_result = coalesce((p_job ->> 'store_result')::boolean, j.store_result),
            timeout = coalesce((p_job ->> 'timeout')::double precision, j.timeout)
        where j.id = v_id;
    end if;

    if v_throttle is not null then
        update procrastinate_throttles as t
        set job_id = v_id
        where md5(t.queueing_lock) = md5(v_lock);
    end if;
    return v_id;
end;
$$;
