-- Flow control: concurrency and rate limits. A limit caps how many jobs of a queue,
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
-- A limit row may also carry a rate: at most `rate` job starts per `per`,
-- a token bucket whose state (tokens, refilled_at) is in the row. The bucket
-- holds at most `rate` tokens and gains rate/per tokens a second; a start
-- takes one. The claim refills and spends it under the same row lock as the
-- concurrency count, so two claims never spend the same token. A row may
-- have a concurrency, a rate or both; the claim keeps a candidate when every
-- limit it falls under has room in each.

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
    -- at most rate job starts per period per (0 holds them all back); null:
    -- no rate limit. tokens: starts left in the bucket at refilled_at (at
    -- most rate; it refills at rate/per a second from then).
    rate integer,
    per interval,
    tokens double precision,
    refilled_at timestamptz,
    constraint procrastinate_limits_scope check (scope in ('queue', 'task', 'key')),
    constraint procrastinate_limits_name_not_empty check (name <> ''),
    constraint procrastinate_limits_concurrency_not_negative check (concurrency >= 0),
    constraint procrastinate_limits_rate check (
        (rate is null and per is null and tokens is null and refilled_at is null)
        or (
            rate >= 0 and per > interval '0' and tokens is not null
            and refilled_at is not null
        )
    )
);

-- One limit per scope and name (md5: a name may be longer than a b-tree entry).
create unique index procrastinate_limits_scope_name_idx_v1
on procrastinate_limits (scope, md5(name));

-- Whether job columns (p_queue_name, p_task_name, p_limit_key) fall under
-- limit (p_scope, p_name). (Not inlined by the planner, whose inlining
-- skips a function with a SET clause: a function call per row and limit,
-- where the rows are a claim's candidates or an ops view's jobs.)
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

-- The tokens of a rate limit's bucket at p_now: the p_tokens it held at
-- p_refilled_at plus rate/per a second since (never less: a clock read
-- before the last refill adds nothing), at most p_rate. Null without a rate.
-- Called by the claim's limit step, the view and procrastinate_limit_wait_v1.
create function _procrastinate_limit_tokens(
    p_rate integer,
    p_per interval,
    p_tokens double precision,
    p_refilled_at timestamptz,
    p_now timestamptz
)
returns double precision
language sql
immutable
set search_path = pg_catalog, public, pg_temp
as $$
    select least(
        p_rate::double precision,
        p_tokens
        + greatest(extract(epoch from p_now - p_refilled_at)::double precision, 0)
        * p_rate / extract(epoch from p_per)::double precision
    );
$$;

-- The queues whose limit is reached now: all their concurrency in use, or
-- less than one token in their rate's bucket (read without locking: a hint).
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
        and (
            _procrastinate_limit_tokens(l.rate, l.per, l.tokens, l.refilled_at, now()) < 1
            or l.concurrency <= (
                select count(*) from procrastinate_jobs as j
                where j.status = 'doing' and j.limited and j.queue_name = l.name
            )
        );
$$;

-- Jobs waiting further back than the candidates p_ids, for a claim whose
-- candidates include more jobs of a task or key limit than it has room for
-- (free slots, or tokens of its rate; read without locking: a hint, checked
-- under lock after): a tenant's thousands of jobs ahead must not hide the
-- jobs of others. Ready jobs without a lock
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
        select
            l.scope, l.name, l.concurrency, count(*) as candidates,
            floor(_procrastinate_limit_tokens(l.rate, l.per, l.tokens, l.refilled_at, now()))
                as tokens
        from procrastinate_jobs as j
        cross join
            lateral (
                values ('task', j.task_name), ('key', j.limit_key)
            ) as s (scope, name)
        inner join procrastinate_limits as l
            on l.scope = s.scope and md5(l.name) = md5(s.name) and l.name = s.name
        where
            j.id = any(p_ids) and j.status = 'todo'
            and (l.concurrency is not null or l.rate is not null)
        group by l.id, l.scope, l.name, l.concurrency, l.rate, l.per, l.tokens, l.refilled_at
    ) as c
    where
        -- the room of a limit: the smaller of its concurrency's and its
        -- rate's (least() skips the one that is null)
        c.candidates > least(
            c.tokens,
            c.concurrency - (
                select count(*) from procrastinate_jobs as j
                where
                    j.status = 'doing' and j.limited
                    and (
                        (c.scope = 'task' and j.task_name = c.name)
                        or (c.scope = 'key' and j.limit_key = c.name)
                    )
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
-- under has room (a free slot of its concurrency, a token of its rate), and
-- only among the first p_slots allowed candidates: a worker runs those at
-- once, the rest waits in its prefetch buffer, where a limited job would
-- hold a slot (or have spent a token) without running. The tokens the
-- allowed candidates take are spent here, under the row lock: the claim
-- starts every allowed candidate, unless the claim's last checks drop it
-- (its queue paused meanwhile, its lock taken): then a token is lost, never
-- one spent too many. Called by procrastinate_fetch_jobs_v4 when limits
-- exist; it must be volatile, so that the count, a statement after the
-- lock, sees the claims committed by the previous holders of the lock.
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
    v_room_before integer[];
    v_clock timestamptz;
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
        where j.id = any(p_ids) and (l.concurrency is not null or l.rate is not null)
        order by l.id
    );
    if v_limit_ids <> '{}' then
        perform 1
        from procrastinate_limits as l
        where l.id = any(v_limit_ids)
        order by l.id
        for update;

        -- a new statement, so a new snapshot: the room left in each limit,
        -- from one pass over the running jobs marked limited and the tokens
        -- of the rates, refilled up to now (the clock read once the lock is
        -- held: later than the refill of any claim before)
        v_clock := clock_timestamp();
        select
            array_agg(l.id order by l.id),
            array_agg(
                greatest(
                    least(
                        l.concurrency - coalesce(u.in_use, 0),
                        floor(
                            _procrastinate_limit_tokens(
                                l.rate, l.per, l.tokens, l.refilled_at, v_clock
                            )
                        )::integer
                    ),
                    0
                )
                order by l.id
            )
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
        where l.id = any(v_limit_ids) and (l.concurrency is not null or l.rate is not null);
        v_room_before := v_room;
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

    -- the rates' tokens taken by the allowed candidates (the rows are
    -- locked: no other claim changes them before this one commits)
    if limited <> '{}' then
        update procrastinate_limits as l
        set
            tokens = _procrastinate_limit_tokens(
                l.rate, l.per, l.tokens, l.refilled_at, v_clock
            ) - (r.before - r.after),
            refilled_at = v_clock
        from unnest(v_limit_ids, v_room_before, v_room) as r (id, before, after)
        where l.id = r.id and l.rate is not null and r.before > r.after;
    end if;
end;
$$;

-- Sets (creates or changes) the limit of (p_scope, p_name): its concurrency
-- when p_concurrency is given, its rate when p_rate and p_per are (a part not
-- given is left as it is); returns its id. A new rate starts with a full
-- bucket; a changed one keeps the tokens it has, at most the new rate.
-- Creating a limit waits for the claims under way and holds new ones for a
-- moment (ACCESS EXCLUSIVE on procrastinate_limits, which every claim reads):
-- a claim that saw no limit must not start jobs after the running ones were
-- marked. Changing one locks its row only (every job running under an
-- existing row is marked). Called by procrastinate_set_limit and
-- procrastinate_register_limits_v1 and _v2.
create function _procrastinate_set_limit(
    p_scope text,
    p_name text,
    p_concurrency integer,
    p_rate integer default null,
    p_per interval default null
)
returns bigint
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_id bigint;
begin
    if p_concurrency is null and p_rate is null and p_per is null then
        raise exception 'a limit needs a concurrency, a rate (with its period per) or both'
            using errcode = 'PT001',
                hint = 'To remove a limit, call procrastinate_remove_limit.';
    end if;
    if p_concurrency < 0 then
        raise exception 'concurrency must be zero or more jobs, got %', p_concurrency
            using errcode = 'PT001',
                hint = 'To remove a limit, call procrastinate_remove_limit.';
    end if;
    if (p_rate is null) <> (p_per is null) then
        raise exception 'a rate limit needs both rate and per (at most rate starts per period '
            'per), got rate %, per %', coalesce(p_rate::text, 'null'), coalesce(p_per::text, 'null')
            using errcode = 'PT001';
    end if;
    if p_rate < 0 then
        raise exception 'rate must be zero or more job starts, got %', p_rate
            using errcode = 'PT001';
    end if;
    if p_per <= interval '0' or extract(epoch from p_per) < 0.001 then
        raise exception 'per must be a period of at least a millisecond, got %', p_per
            using errcode = 'PT001';
    end if;
    if p_name is null or p_name = '' then
        raise exception 'a limit needs a non-empty % name', p_scope
            using errcode = 'PT001';
    end if;

    update procrastinate_limits as l
    set
        concurrency = coalesce(p_concurrency, l.concurrency),
        rate = coalesce(p_rate, l.rate),
        per = coalesce(p_per, l.per),
        tokens = case
            when p_rate is null then l.tokens
            else least(
                p_rate,
                coalesce(
                    _procrastinate_limit_tokens(
                        l.rate, l.per, l.tokens, l.refilled_at, clock_timestamp()
                    ),
                    p_rate
                )
            )
        end,
        refilled_at = case
            when p_rate is null then l.refilled_at else clock_timestamp()
        end,
        updated_at = now()
    where l.scope = p_scope and md5(l.name) = md5(p_name) and l.name = p_name
    returning l.id into v_id;
    if v_id is not null then
        return v_id;
    end if;

    lock table procrastinate_limits in access exclusive mode;
    insert into procrastinate_limits as l (scope, name, concurrency, rate, per, tokens, refilled_at)
    values (
        p_scope, p_name, p_concurrency, p_rate, p_per, p_rate,
        case when p_rate is not null then clock_timestamp() end
    )
    on conflict (scope, md5(name)) do update
        set
            concurrency = coalesce(excluded.concurrency, l.concurrency),
            rate = coalesce(excluded.rate, l.rate),
            per = coalesce(excluded.per, l.per),
            tokens = coalesce(excluded.tokens, l.tokens),
            refilled_at = coalesce(excluded.refilled_at, l.refilled_at),
            updated_at = now()
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

-- User-facing: sets the concurrency limit, the rate limit or both of a
-- queue, a task or a limit key.
create function procrastinate_set_limit(
    queue_name text default null,
    task_name text default null,
    limit_key text default null,
    concurrency integer default null,
    rate integer default null,
    per interval default null
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
    perform _procrastinate_set_limit(v_scope, v_name, concurrency, rate, per);
end;
$$;

comment on function procrastinate_set_limit(text, text, text, integer, integer, interval) is
'Limit the jobs of a queue, of a task, or with a limit key (name exactly one of queue_name,
task_name, limit_key), across all workers: at most concurrency of them running at once, at
most rate of them started per period per (a token bucket: up to rate may start at once after
a quiet period), or both. 0 holds them all back. Setting it again changes what is given and
keeps the rest. Examples:
  select procrastinate_set_limit(queue_name => ''emails'', concurrency => 5);
  select procrastinate_set_limit(queue_name => ''emails'', rate => 100, per => ''1 minute'');
  select procrastinate_set_limit(limit_key => ''tenant:42'', concurrency => 2);
Bad input (not exactly one name, neither a concurrency nor a rate, a negative number, a rate
without per, a period under a millisecond): SQLSTATE PT001. A worker registers the limits of
its tasks and queues when it starts, over what was set here. List limits with the view
procrastinate_limit_stats; remove one with procrastinate_remove_limit.';

-- User-facing: removes the limit (concurrency and rate) of a queue, a task
-- or a key.
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
    where l.scope = v_scope and md5(l.name) = md5(v_name) and l.name = v_name;
    if not found then
        raise exception 'there is no limit on % "%"', v_scope, v_name
            using errcode = 'PT006',
                hint = 'The limits in place are listed by procrastinate_limit_stats.';
    end if;
end;
$$;

comment on function procrastinate_remove_limit(text, text, text) is
'Remove the limit of a queue, a task or a limit key (name exactly one), its concurrency and its
rate: its jobs run as soon as workers have room. No such limit: SQLSTATE PT006. Example:
  select procrastinate_remove_limit(queue_name => ''emails'');';


-- The limits written in a worker's code, set when it starts: p_limits is a
-- JSON object {"task": {name: limit}, "queue": {name: limit}} where a limit
-- is {"concurrency": jobs, "rate": starts, "per": seconds} (any of them null
-- or left out, not all: the tasks' concurrency_limit and rate_limit, the
-- App's queue_limits). As with _v1, the code wins over what psql set for the
-- parts it gives, and limits already in place as given are left alone (no
-- lock, and a rate's bucket keeps its tokens). Called by the Python worker.
create function procrastinate_register_limits_v2(p_limits jsonb)
returns void
language plpgsql
-- a worker role has no right on the tables
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_limit record;
    v_concurrency integer;
    v_rate integer;
    v_per interval;
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
        select s.scope, t.key as name, t.value as given
        from (values ('queue'), ('task')) as s (scope)
        cross join lateral jsonb_each(coalesce(p_limits -> s.scope, '{}')) as t
        order by s.scope, t.key
    loop
        if jsonb_typeof(v_limit.given) <> 'object'
            or v_limit.given - array['concurrency', 'rate', 'per'] <> '{}'::jsonb
            or jsonb_typeof(coalesce(v_limit.given -> 'concurrency', 'null')) not in ('number', 'null')
            or jsonb_typeof(coalesce(v_limit.given -> 'rate', 'null')) not in ('number', 'null')
            or jsonb_typeof(coalesce(v_limit.given -> 'per', 'null')) not in ('number', 'null')
            or coalesce(v_limit.given ->> 'concurrency', '0') !~ '^-?[0-9]{1,9}$'
            or coalesce(v_limit.given ->> 'rate', '0') !~ '^-?[0-9]{1,9}$'
        then
            raise exception '% % has a limit that is not {"concurrency": integer, '
                '"rate": integer, "per": seconds}: %', v_limit.scope, v_limit.name, v_limit.given
                using errcode = 'PT001';
        end if;
        v_concurrency := (v_limit.given ->> 'concurrency')::integer;
        v_rate := (v_limit.given ->> 'rate')::integer;
        v_per := make_interval(secs => (v_limit.given ->> 'per')::double precision);
        if not exists (
            select 1 from procrastinate_limits as l
            where
                l.scope = v_limit.scope and md5(l.name) = md5(v_limit.name)
                and l.name = v_limit.name
                and (v_concurrency is null or l.concurrency = v_concurrency)
                and (v_rate is null or (l.rate = v_rate and l.per = v_per))
                and (v_rate is not null or v_per is null)
        ) then
            perform _procrastinate_set_limit(
                v_limit.scope, v_limit.name, v_concurrency, v_rate, v_per
            );
        end if;
    end loop;
end;
$$;

-- The concurrency limits written in a worker's code, set when it starts, as
-- the workers of the release before rate limits send them: p_limits is a
-- JSON object {"task": {name: limit}, "queue": {name: limit}} (the tasks'
-- concurrency_limit, the App's queue_limits). It is
-- procrastinate_register_limits_v2 given {"concurrency": limit} for each
-- (the code wins for concurrency; a rate set meanwhile is kept).
create function procrastinate_register_limits_v1(p_limits jsonb)
returns void
language plpgsql
-- a worker role has no right on the tables
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_bad record;
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
    select s.scope, t.key as name, t.value as concurrency into v_bad
    from (values ('queue'), ('task')) as s (scope)
    cross join lateral jsonb_each(coalesce(p_limits -> s.scope, '{}')) as t
    where jsonb_typeof(t.value) <> 'number' or t.value::text !~ '^-?[0-9]{1,9}$'
    order by s.scope, t.key
    limit 1;
    if found then
        raise exception '% % has a concurrency limit that is not an integer: %',
            v_bad.scope, v_bad.name, v_bad.concurrency
            using errcode = 'PT001';
    end if;
    perform procrastinate_register_limits_v2((
        select coalesce(jsonb_object_agg(s.scope, (
            select coalesce(jsonb_object_agg(t.key, jsonb_build_object('concurrency', t.value)), '{}')
            from jsonb_each(p_limits -> s.scope) as t
        )), '{}')
        from (values ('queue'), ('task')) as s (scope)
        where p_limits -> s.scope is not null
    ));
end;
$$;

-- The seconds a worker serving p_queues (null: every queue) may sleep
-- before a rate limit that holds jobs of its queues back has a token again:
-- among the rate limits with jobs of those queues waiting and due under
-- them, and a free slot of their concurrency if they have one, the earliest
-- time one of their buckets holds a token (0: one holds a token now, the
-- claim that came back short ran before its refill). seconds is null when
-- no rate limit holds such jobs back, and has_rate_limits false when no
-- rate limit exists at all (the worker then stops asking for a while). One
-- row. The jobs of a task or key limit are looked for among the first
-- 10,000 waiting jobs of the queues (as in
-- _procrastinate_candidates_past_full_limits). Called by the Python worker
-- after a claim that came back short, instead of sleeping its whole poll
-- interval.
create function procrastinate_limit_wait_v1(p_queues text[])
returns table (has_rate_limits boolean, seconds double precision)
language sql
stable
-- a worker role has no right on the tables
security definer
set search_path = pg_catalog, public, pg_temp
as $$
    select
        exists (select 1 from procrastinate_limits as l where l.rate is not null),
        (
            select
                min(
                    greatest(
                        extract(epoch from l.refilled_at - clock_timestamp())::double precision
                        + (1 - l.tokens) * extract(epoch from l.per)::double precision / l.rate,
                        0
                    )
                )
            from procrastinate_limits as l
            where
                l.rate > 0
                and (
                    l.concurrency is null
                    or l.concurrency > (
                        select count(*) from procrastinate_jobs as j
                        where
                            j.status = 'doing' and j.limited
                            and _procrastinate_limit_applies(
                                l.scope, l.name, j.queue_name, j.task_name, j.limit_key
                            )
                    )
                )
                and (
                    (
                        l.scope = 'queue'
                        and (p_queues is null or l.name = any(p_queues))
                        and exists (
                            select 1 from procrastinate_jobs as j
                            where
                                j.status = 'todo' and md5(j.queue_name) = md5(l.name)
                                and j.queue_name = l.name
                                and (j.scheduled_at is null or j.scheduled_at <= now())
                        )
                    )
                    or (
                        l.scope <> 'queue'
                        and exists (
                            select 1
                            from (
                                select j.task_name, j.limit_key
                                from procrastinate_jobs as j
                                where
                                    j.status = 'todo'
                                    and (j.scheduled_at is null or j.scheduled_at <= now())
                                    and (p_queues is null or j.queue_name = any(p_queues))
                                limit 10000
                            ) as w
                            where
                                (l.scope = 'task' and w.task_name = l.name)
                                or (l.scope = 'key' and w.limit_key = l.name)
                        )
                    )
                )
        );
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
    case
        when
            coalesce(u.in_use, 0) >= l.concurrency
            or _procrastinate_limit_tokens(l.rate, l.per, l.tokens, l.refilled_at, now()) < 1
            then coalesce(u.waiting, 0)
        else 0
    end as held_back,
    l.updated_at,
    l.rate,
    l.per,
    _procrastinate_limit_tokens(l.rate, l.per, l.tokens, l.refilled_at, now()) as tokens
from procrastinate_limits as l
left join uses as u on l.id = u.id;

comment on view procrastinate_limit_stats is
'One row per limit (procrastinate_set_limit, or a task''s concurrency_limit or rate_limit
registered by a worker): scope (queue, task or key) and name, the concurrency limit (null: none),
the jobs running under it (in_use), the jobs waiting and due (waiting), how many of those are
held back by the limit (held_back: all of them while in_use has reached the concurrency or the
rate''s bucket has less than one token, else 0), the rate limit (rate starts per period per,
null: none) and the starts its bucket allows now (tokens, at most rate).';
