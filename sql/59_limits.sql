-- Flow control: concurrency limits. A limit caps how many jobs of a queue,
-- of a task, or carrying a limit key (procrastinate_defer_job's limit_key,
-- "tenant:42" say) may be running (status doing) at once, across every
-- worker. The claim (procrastinate_fetch_jobs_v4, 30_fetch.sql) enforces them:
--   - with no row in procrastinate_limits it does nothing more than one
--     probe of this empty table;
--   - otherwise it locks the rows of the limits its candidates fall under
--     (FOR UPDATE, in id order so that two claims never deadlock), counts
--     the running jobs of each limit, and keeps only the candidates that
--     fit. The row locks are held until the claim commits, so the next claim
--     of the same limit counts the jobs this one started: no over-claim.
-- A running job is counted through procrastinate_jobs_limited_idx_v1, which
-- holds only running jobs marked "limited": the claim marks the jobs it
-- starts under a limit, and setting a limit marks the jobs already running
-- under it. Without limits no job is marked and the index stays empty.
-- Any way out of doing (success, failure, retry, cancel, abort, rescue,
-- release) frees the slot: the count reads the status.
--
-- The table is meant to hold other kinds of flow control later (a rate
-- limit would be new nullable columns of the same row, read by the same
-- claim under the same row lock): concurrency is nullable for that reason,
-- and a row whose concurrency is null limits nothing.

create table procrastinate_limits (
    id bigint primary key generated always as identity,
    -- 'queue' (name is a queue_name), 'task' (a task_name) or 'key' (a
    -- limit_key given at defer)
    scope text not null,
    name text not null,
    -- at most this many jobs running at once (0 holds them all back); null:
    -- no concurrency limit
    concurrency integer,
    updated_at timestamptz not null default now(),
    constraint procrastinate_limits_scope check (scope in ('queue', 'task', 'key')),
    constraint procrastinate_limits_name_not_empty check (name <> ''),
    constraint procrastinate_limits_concurrency_not_negative check (concurrency >= 0)
);

-- One limit per scope and name (md5: a name may be longer than a b-tree entry).
create unique index procrastinate_limits_scope_name_idx_v1
on procrastinate_limits (scope, md5(name));

-- Whether job columns (p_queue_name, p_task_name, p_limit_key) fall under
-- limit (p_scope, p_name). Inlined by the planner (plain SQL, immutable).
create function _procrastinate_limit_applies(
    p_scope text,
    p_name text,
    p_queue_name text,
    p_task_name text,
    p_limit_key text
)
returns boolean
language sql
immutable
set search_path = pg_catalog, public, pg_temp
as $$
    select
        (p_scope = 'queue' and p_name = p_queue_name)
        or (p_scope = 'task' and p_name = p_task_name)
        or (p_scope = 'key' and p_name = p_limit_key);
$$;

-- The queues whose limit is reached now (read without locking: a hint).
-- The claim walks them no more than paused queues, so that a full queue's
-- backlog never fills its candidates. Called by procrastinate_fetch_jobs_v4
-- when limits exist.
create function _procrastinate_full_queues()
returns text[]
language sql
stable
set search_path = pg_catalog, public, pg_temp
set enable_seqscan = off
as $$
    select coalesce(array_agg(l.name), '{}')
    from procrastinate_limits as l
    where
        l.scope = 'queue'
        and l.concurrency <= (
            select count(*) from procrastinate_jobs as j
            where j.status = 'doing' and j.limited and j.queue_name = l.name
        );
$$;

-- Jobs waiting further back than the candidates p_ids, for a claim whose
-- candidates include more jobs of a task or key limit than it has room for
-- (read without locking: a hint, checked under lock after): a tenant's thousands
-- of jobs ahead must not hide the jobs of others. Ready jobs without a lock
-- only (the common case), of the served queues, not under a full limit, in
-- claim order; at most p_wanted, reading at most 10,000 waiting jobs (the
-- cost of a claim stays bounded; past them, jobs wait for the held-back
-- ones to start). Empty when nothing is held back. Called by
-- procrastinate_fetch_jobs_v4 when limits exist.
create function _procrastinate_candidates_past_full_limits(
    p_ids bigint[],
    p_queues text[],
    p_paused text[],
    p_wanted integer
)
returns bigint[]
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
set enable_seqscan = off
set enable_bitmapscan = off
as $$
declare
    v_full_tasks text[];
    v_full_keys text[];
begin
    -- the task and key limits with more candidates than room
    select
        coalesce(array_agg(c.name) filter (where c.scope = 'task'), '{}'),
        coalesce(array_agg(c.name) filter (where c.scope = 'key'), '{}')
    into v_full_tasks, v_full_keys
    from (
        select l.scope, l.name, l.concurrency, count(*) as candidates
        from procrastinate_jobs as j
        cross join
            lateral (
                values ('task', j.task_name), ('key', j.limit_key)
            ) as s (scope, name)
        inner join procrastinate_limits as l
            on l.scope = s.scope and md5(l.name) = md5(s.name) and l.name = s.name
        where j.id = any(p_ids) and j.status = 'todo' and l.concurrency is not null
        group by l.id, l.scope, l.name, l.concurrency
    ) as c
    where
        c.candidates > c.concurrency - (
            select count(*) from procrastinate_jobs as j
            where
                j.status = 'doing' and j.limited
                and (
                    (c.scope = 'task' and j.task_name = c.name)
                    or (c.scope = 'key' and j.limit_key = c.name)
                )
        );
    if v_full_tasks = '{}' and v_full_keys = '{}' then
        return '{}'::bigint[];
    end if;
    return array(
        select w.id
        from (
            select j.id, j.task_name, j.limit_key
            from procrastinate_jobs as j
            where
                j.status = 'todo' and j.scheduled_at is null and j.lock is null
                and (p_queues is null or j.queue_name = any(p_queues))
                and j.queue_name <> all(p_paused)
            order by j.priority desc, j.id asc
            limit 10000
        ) as w
        where
            w.id <> all(p_ids)
            and w.task_name <> all(v_full_tasks)
            and (w.limit_key is null or w.limit_key <> all(v_full_keys))
        limit p_wanted
    );
end;
$$;

-- The candidates of a claim that limits let start, in claim order
-- (allowed), and among them those under a limit (limited: the claim marks
-- them). A candidate under a limit is allowed while every limit it falls
-- under has room, and only among the first p_slots allowed candidates: a
-- worker runs those at once, the rest waits in its prefetch buffer, where a
-- limited job would hold a slot without running. Called by
-- procrastinate_fetch_jobs_v4 when limits exist; it must be volatile, so
-- that the count, a statement after the lock, sees the claims committed by
-- the previous holders of the lock.
create function _procrastinate_limit_candidates(
    p_ids bigint[],
    p_slots integer,
    out allowed bigint[],
    out limited bigint[]
)
language plpgsql
set search_path = pg_catalog, public, pg_temp
set enable_seqscan = off
as $$
declare
    v_limit_ids bigint[];
    v_room integer[];
    v_candidate record;
    v_position integer;
    v_fits boolean;
    v_taken integer := 0;
begin
    allowed := '{}';
    limited := '{}';
    -- the limits that concern a candidate (three probes of
    -- procrastinate_limits_scope_name_idx_v1 per candidate, whatever the
    -- number of limits), locked in id order
    v_limit_ids := array(
        select distinct l.id
        from procrastinate_jobs as j
        cross join lateral (
            values ('queue', j.queue_name), ('task', j.task_name), ('key', j.limit_key)
        ) as s (scope, name)
        inner join procrastinate_limits as l
            on l.scope = s.scope and md5(l.name) = md5(s.name) and l.name = s.name
        where j.id = any(p_ids) and l.concurrency is not null
        order by l.id
    );
    if v_limit_ids <> '{}' then
        perform 1
        from procrastinate_limits as l
        where l.id = any(v_limit_ids)
        order by l.id
        for update;

        -- a new statement, so a new snapshot: the room left in each limit,
        -- from one pass over the running jobs marked limited
        select
            array_agg(l.id order by l.id),
            array_agg(greatest(l.concurrency - coalesce(u.in_use, 0), 0) order by l.id)
        into v_limit_ids, v_room
        from procrastinate_limits as l
        left join (
            select r.id, count(*)::integer as in_use
            from procrastinate_jobs as j
            cross join lateral (
                values ('queue', j.queue_name), ('task', j.task_name), ('key', j.limit_key)
            ) as s (scope, name)
            inner join procrastinate_limits as r
                on r.scope = s.scope and md5(r.name) = md5(s.name) and r.name = s.name
            where j.status = 'doing' and j.limited and r.id = any(v_limit_ids)
            group by r.id
        ) as u on l.id = u.id
        where l.id = any(v_limit_ids) and l.concurrency is not null;
    end if;

    for v_candidate in
        select
            j.id,
            array(
                select l.id
                from (
                    values ('queue', j.queue_name), ('task', j.task_name), ('key', j.limit_key)
                ) as s (scope, name)
                inner join procrastinate_limits as l
                    on l.scope = s.scope and md5(l.name) = md5(s.name) and l.name = s.name
                where l.id = any(v_limit_ids)
            ) as limit_ids
        from procrastinate_jobs as j
        where j.id = any(p_ids) and j.status = 'todo'
        order by j.priority desc, j.id asc
    loop
        if v_candidate.limit_ids = '{}' then
            allowed := allowed || v_candidate.id;
            v_taken := v_taken + 1;
            continue;
        end if;
        if v_taken >= p_slots then
            continue;
        end if;
        v_fits := true;
        foreach v_position in array array(
            select array_position(v_limit_ids, u.id) from unnest(v_candidate.limit_ids) as u (id)
        ) loop
            v_fits := v_fits and v_room[v_position] > 0;
        end loop;
        if v_fits then
            foreach v_position in array array(
                select array_position(v_limit_ids, u.id)
                from unnest(v_candidate.limit_ids) as u (id)
            ) loop
                v_room[v_position] := v_room[v_position] - 1;
            end loop;
            allowed := allowed || v_candidate.id;
            limited := limited || v_candidate.id;
            v_taken := v_taken + 1;
        end if;
    end loop;
end;
$$;

-- Sets (creates or changes) the concurrency limit of (p_scope, p_name) and
-- returns its id. Creating one waits for the claims under way and holds
-- new ones for a moment (ACCESS EXCLUSIVE on procrastinate_limits, which
-- every claim reads): a claim that saw no limit must not start jobs after
-- the running ones were marked. Changing one locks its row only. Called by
-- procrastinate_set_limit and procrastinate_register_limits_v1.
create function _procrastinate_set_limit(p_scope text, p_name text, p_concurrency integer)
returns bigint
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_id bigint;
begin
    if p_concurrency is null or p_concurrency < 0 then
        raise exception 'concurrency must be zero or more jobs, got %',
            coalesce(p_concurrency::text, 'null')
            using errcode = 'PT001',
                hint = 'To remove a limit, call procrastinate_remove_limit.';
    end if;
    if p_name is null or p_name = '' then
        raise exception 'a limit needs a non-empty % name', p_scope
            using errcode = 'PT001';
    end if;

    update procrastinate_limits as l
    set concurrency = p_concurrency, updated_at = now()
    where
        l.scope = p_scope and md5(l.name) = md5(p_name) and l.name = p_name
        and l.concurrency is not null
    returning l.id into v_id;
    if v_id is not null then
        return v_id;
    end if;

    lock table procrastinate_limits in access exclusive mode;
    insert into procrastinate_limits as l (scope, name, concurrency)
    values (p_scope, p_name, p_concurrency)
    on conflict (scope, md5(name)) do update
        set concurrency = excluded.concurrency, updated_at = now()
    returning l.id into v_id;
    -- the jobs already running under it count from now on
    update procrastinate_jobs as j
    set limited = true
    where
        j.status = 'doing' and not j.limited
        and _procrastinate_limit_applies(p_scope, p_name, j.queue_name, j.task_name, j.limit_key);
    return v_id;
end;
$$;

-- The scope and name of a limit named by the user-facing functions' three
-- parameters, exactly one of which must be given (PT001 otherwise).
create function _procrastinate_limit_scope(
    p_queue_name text,
    p_task_name text,
    p_limit_key text,
    out scope text,
    out name text
)
language plpgsql
immutable
set search_path = pg_catalog, public, pg_temp
as $$
begin
    if num_nonnulls(p_queue_name, p_task_name, p_limit_key) <> 1 then
        raise exception 'name exactly one of queue_name, task_name and limit_key, got %',
            num_nonnulls(p_queue_name, p_task_name, p_limit_key)
            using errcode = 'PT001';
    end if;
    scope := case
        when p_queue_name is not null then 'queue'
        when p_task_name is not null then 'task'
        else 'key'
    end;
    name := coalesce(p_queue_name, p_task_name, p_limit_key);
end;
$$;

-- User-facing: sets the concurrency limit of a queue, a task or a limit key.
create function procrastinate_set_limit(
    queue_name text default null,
    task_name text default null,
    limit_key text default null,
    concurrency integer default null
)
returns void
language plpgsql
-- an operator role has no right on the tables
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_scope text;
    v_name text;
begin
    select s.scope, s.name into v_scope, v_name
    from _procrastinate_limit_scope(queue_name, task_name, limit_key) as s;
    perform _procrastinate_set_limit(v_scope, v_name, concurrency);
end;
$$;

comment on function procrastinate_set_limit(text, text, text, integer) is
'Allow at most concurrency jobs of a queue, of a task, or with a limit key, to run at once
across all workers (name exactly one of queue_name, task_name, limit_key). 0 holds them all
back. Setting it again changes it. Example:
  select procrastinate_set_limit(queue_name => ''emails'', concurrency => 5);
  select procrastinate_set_limit(limit_key => ''tenant:42'', concurrency => 2);
Bad input (not exactly one name, a negative or null concurrency): SQLSTATE PT001. A worker
registers the concurrency_limit of its tasks when it starts, over what was set here. List
limits with the view procrastinate_limit_stats; remove one with procrastinate_remove_limit.';

-- User-facing: removes the concurrency limit of a queue, a task or a key.
create function procrastinate_remove_limit(
    queue_name text default null,
    task_name text default null,
    limit_key text default null
)
returns void
language plpgsql
-- an operator role has no right on the tables
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_scope text;
    v_name text;
begin
    select s.scope, s.name into v_scope, v_name
    from _procrastinate_limit_scope(queue_name, task_name, limit_key) as s;
    delete from procrastinate_limits as l
    where
        l.scope = v_scope and md5(l.name) = md5(v_name) and l.name = v_name
        and l.concurrency is not null;
    if not found then
        raise exception 'there is no concurrency limit on % "%"', v_scope, v_name
            using errcode = 'PT006',
                hint = 'The limits in place are listed by procrastinate_limit_stats.';
    end if;
end;
$$;

comment on function procrastinate_remove_limit(text, text, text) is
'Remove the concurrency limit of a queue, a task or a limit key (name exactly one): its jobs
run as soon as workers have room. No such limit: SQLSTATE PT006. Example:
  select procrastinate_remove_limit(queue_name => ''emails'');';

-- The concurrency limits written in a worker's code, set when it starts:
-- p_limits is a JSON object {"task": {name: limit}, "queue": {name: limit}}
-- (the tasks' concurrency_limit, the App's queue_limits). The code is where
-- these are written, so it wins over what psql set; limits already in place
-- as given are left alone (no lock). Called by the Python worker.
create function procrastinate_register_limits_v1(p_limits jsonb)
returns void
language plpgsql
-- a worker role has no right on the tables
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_limit record;
begin
    if p_limits is null or jsonb_typeof(p_limits) <> 'object'
        or p_limits - array['task', 'queue'] <> '{}'::jsonb
        or jsonb_typeof(coalesce(p_limits -> 'task', '{}')) <> 'object'
        or jsonb_typeof(coalesce(p_limits -> 'queue', '{}')) <> 'object'
    then
        raise exception 'limits must be a JSON object {"task": {name: limit}, '
            '"queue": {name: limit}}, got %', coalesce(p_limits::text, 'null')
            using errcode = 'PT001';
    end if;
    for v_limit in
        select s.scope, t.key as name, t.value as concurrency
        from (values ('queue'), ('task')) as s (scope)
        cross join lateral jsonb_each(coalesce(p_limits -> s.scope, '{}')) as t
        order by s.scope, t.key
    loop
        if jsonb_typeof(v_limit.concurrency) <> 'number'
            or v_limit.concurrency::text !~ '^-?[0-9]{1,9}$'
        then
            raise exception '% % has a concurrency limit that is not an integer: %',
                v_limit.scope, v_limit.name, v_limit.concurrency
                using errcode = 'PT001';
        end if;
        if not exists (
            select 1 from procrastinate_limits as l
            where
                l.scope = v_limit.scope and md5(l.name) = md5(v_limit.name)
                and l.name = v_limit.name
                and l.concurrency = v_limit.concurrency::text::integer
        ) then
            perform _procrastinate_set_limit(
                v_limit.scope, v_limit.name, v_limit.concurrency::text::integer
            );
        end if;
    end loop;
end;
$$;

-- For the person on call: every limit with its use.
create view procrastinate_limit_stats as
with uses as (
    select
        l.id,
        count(*) filter (where j.status = 'doing') as in_use,
        count(*) filter (
            where j.status = 'todo' and (j.scheduled_at is null or j.scheduled_at <= now())
        ) as waiting
    from procrastinate_jobs as j
    cross join
        lateral (
            values ('queue', j.queue_name), ('task', j.task_name), ('key', j.limit_key)
        ) as s (scope, name)
    inner join procrastinate_limits as l
        on s.scope = l.scope and md5(s.name) = md5(l.name) and s.name = l.name
    where j.status in ('todo', 'doing')
    group by l.id
)

select
    l.scope,
    l.name,
    l.concurrency,
    coalesce(u.in_use, 0) as in_use,
    coalesce(u.waiting, 0) as waiting,
    case when coalesce(u.in_use, 0) >= l.concurrency then coalesce(u.waiting, 0) else 0 end
        as held_back,
    l.updated_at
from procrastinate_limits as l
left join uses as u on l.id = u.id
where l.concurrency is not null;

comment on view procrastinate_limit_stats is
'One row per concurrency limit (procrastinate_set_limit, or a task''s concurrency_limit
registered by a worker): scope (queue, task or key) and name, the limit, the jobs running under
it (in_use), the jobs waiting and due (waiting), and how many of those are held back by the
limit (held_back: all of them while in_use has reached the limit, else 0).';
