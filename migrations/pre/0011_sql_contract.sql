-- The SQL contract (issue 12): least privilege that holds, versioned
-- driver functions, one clock, the state machine written down, the rules of
-- the stall protocol in SQL.
-- - Every function pins search_path = pg_catalog, public, pg_temp (pg_temp
--   last: a caller's temporary table, view or sequence can no longer stand
--   in for ours inside a security definer function).
-- - The functions roles call run as the owner (security definer) and check
--   the caller: a worker id belongs to the login role that registered it; only
--   a trusted session pins the clock (p_now); a producer sees its own jobs.
-- - The args limits and the stall defaults live in procrastinate_settings,
--   which only the owner can change (no more session settings a caller could
--   SET).
-- - New driver versions: defer_jobs_v2, fetch_jobs_v2 (claim token),
--   register_worker_v2 (lease), unregister_worker_v2, release_jobs_v2,
--   rescue_stalled_jobs_v2 (gating in SQL); _v1 twins of the user-facing
--   functions the driver calls; internal helpers renamed _procrastinate_*.
--   The superseded _v1 stay as wrappers for workers still running the old
--   code; post migration 0020 drops them.
-- Expand only: new columns are nullable without default (no rewrite), the
-- new table is tiny, functions and views are created or replaced, triggers
-- re-pointed with create or replace trigger (a brief lock on the jobs table).
-- Needs 0010 (the released event) committed first.
-- squawk-ignore-file ban-drop-function, prefer-bigint-over-int
-- Allowed (squawk), why:
-- ban-drop-function: the functions dropped are internal helpers that only
--   the functions replaced here called (renamed _procrastinate_*), and
--   procrastinate_cancel_jobs(text, text), recreated with p_now at once.
-- prefer-bigint-over-int: the integers of procrastinate_settings (depth of
--   args, rescues) are capped far below the range of an integer.
set local lock_timeout = '10s';
set local statement_timeout = '60s';

-- ---- tables: new columns and the settings


alter table procrastinate_workers add column registered_by text;
alter table procrastinate_workers add column stalled_after double precision;
alter table procrastinate_workers add column alive_since timestamptz;
alter table procrastinate_jobs add column deferred_by text;
alter table procrastinate_jobs add column claim_token uuid;

-- Limits and defaults that callers must not change: one row, written by the
-- owner of the schema only (no role is granted anything on it). The checks
-- are hard caps that even the owner cannot pass.
create table procrastinate_settings (
    singleton boolean primary key default true,
    -- args of a job: workers must be able to load every job they fetch
    -- (Python's json module gives up around 1000 levels of nesting)
    max_args_bytes bigint not null default 10485760,
    max_args_depth integer not null default 100,
    -- seconds without a heartbeat after which a worker's jobs are rescued,
    -- for workers that register without their own
    stalled_worker_timeout double precision not null default 30,
    -- rescues of one job before it ends failed
    max_rescues integer not null default 3,
    constraint procrastinate_settings_one_row check (singleton),
    constraint procrastinate_settings_max_args_bytes check (
        max_args_bytes between 1 and 268435456
    ),
    constraint procrastinate_settings_max_args_depth check (max_args_depth between 1 and 500),
    constraint procrastinate_settings_stalled_worker_timeout check (
        stalled_worker_timeout > 0
    ),
    constraint procrastinate_settings_max_rescues check (max_rescues >= 1)
);

comment on table procrastinate_settings is
'Limits and defaults of the queue (one row): max_args_bytes and max_args_depth bound the args
of a deferred job; stalled_worker_timeout (seconds) is the lease of workers that register
without their own; max_rescues bounds how often one job is rescued. Only the schema owner
may change them (update procrastinate_settings set ...); the checks are hard caps.';

insert into procrastinate_settings default values;

-- The row stays: without it every limit would read null, i.e. none.
create function _procrastinate_keep_settings()
returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
    raise exception 'procrastinate_settings keeps its one row: update it instead'
        using errcode = 'PT001';
end;
$$;

create trigger procrastinate_settings_keep_row_v1
before delete or truncate on procrastinate_settings
for each statement
execute function _procrastinate_keep_settings();

-- ---- the state machine, access rules, the migrations reader


create view procrastinate_job_transitions as
select
    t.from_status,
    t.to_status,
    t.function_name,
    t.attempts
from (
    values
    ('(new)', 'todo', '_procrastinate_insert_jobs', 'set to 0'),
    ('todo', 'doing', 'procrastinate_fetch_jobs_v2', 'kept'),
    ('todo', 'cancelled', 'procrastinate_cancel_job_v1', 'kept'),
    ('todo', '(deleted)', 'procrastinate_cancel_job_v1', '-'),
    ('todo', 'cancelled', 'procrastinate_cancel_jobs', 'kept'),
    ('doing', 'succeeded', '_procrastinate_apply_outcomes', '+1'),
    ('doing', 'failed', '_procrastinate_apply_outcomes', '+1'),
    ('doing', 'aborted', '_procrastinate_apply_outcomes', '+1'),
    ('doing', 'todo', '_procrastinate_apply_outcomes', '+1 (retry by policy or decision)'),
    ('doing', '(deleted)', '_procrastinate_apply_outcomes', '-'),
    ('doing', 'todo', 'procrastinate_retry_job_v1', '+1'),
    ('doing', 'failed', 'procrastinate_retry_job_v1', '+1 (abort was pending)'),
    ('doing', 'todo', 'procrastinate_unregister_worker_v2', '+1'),
    ('doing', 'aborted', 'procrastinate_unregister_worker_v2', '+1 (abort was pending)'),
    ('doing', 'todo', 'procrastinate_release_jobs_v2', 'kept (event released)'),
    ('doing', 'aborted', 'procrastinate_release_jobs_v2', 'kept (abort was pending)'),
    ('doing', 'todo', 'procrastinate_rescue_stalled_jobs_v2', '+1, rescue_count +1'),
    ('doing', 'failed', 'procrastinate_rescue_stalled_jobs_v2', '+1 (rescue or attempt limit)'),
    ('doing', 'aborted', 'procrastinate_rescue_stalled_jobs_v2', '+1 (abort was pending)'),
    ('failed', 'todo', 'procrastinate_retry_job_v1', 'kept'),
    ('failed', 'todo', 'procrastinate_retry_failed_jobs', 'kept'),
    ('succeeded', '(deleted)', 'procrastinate_remove_old_jobs_v1', '-'),
    ('failed', '(deleted)', 'procrastinate_remove_old_jobs_v1', '-'),
    ('cancelled', '(deleted)', 'procrastinate_remove_old_jobs_v1', '-'),
    ('aborted', '(deleted)', 'procrastinate_remove_old_jobs_v1', '-')
) as t (from_status, to_status, function_name, attempts);

comment on view procrastinate_job_transitions is
'Every status change a job can go through: from, to, the function that makes it, and what
happens to attempts. (new) is a job being inserted, (deleted) a job removed. A pending abort
(abort_requested) always ends aborted, except through procrastinate_retry_job (failed).';

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

-- True when the session sees every job (a trusted session or a worker
-- login), false for a producer, who sees only the jobs it deferred.
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
        );
$$;

-- The numbers of the applied migrations: what a worker checks at start-up
-- (every pre migration its code ships must be there), readable by roles
-- that have no right on the tables.
create function procrastinate_applied_migrations_v1()
returns setof integer
language sql
stable
security definer
set search_path = pg_catalog, public, pg_temp
as $$
    select m.number from procrastinate_migrations as m order by m.number;
$$;

-- ---- notifications and events: internal helpers, triggers re-pointed


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
-- released, and the worker running a job whose abort was just requested.
create function _procrastinate_notify_updated_jobs()
returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
-- the probe of the next job of a lock walks its index in order, whatever the
-- statistics say (a bitmap scan would read every job of the lock to sort them)
set enable_bitmapscan = off
set enable_seqscan = off
as $$
declare
    v_queues jsonb;
    v_job_ids jsonb;
begin
    -- Most updates are claims (todo -> doing) and finishes: none of the cases
    -- below can apply without one of these (5% of a fetch + finish).
    if not exists (
        select 1 from new_jobs as n
        where n.status = 'todo' or n.lock is not null or n.abort_requested
    ) then
        return null;
    end if;

    with changed as (
        select o.status as old_status, o.queue_name as old_queue, o.abort_requested as old_abort, n.*
        from old_jobs as o
        inner join new_jobs as n on o.id = n.id
    ),

    available as (
        select c.queue_name
        from changed as c
        where
            c.status = 'todo'
            and (c.scheduled_at is null or c.scheduled_at <= now())
            and (c.old_status <> 'todo' or c.old_queue <> c.queue_name)
        union
        -- the next job of a lock its holder just released, if it may run now:
        -- one probe of procrastinate_jobs_lock_order_idx_v1 per lock, however
        -- many jobs wait for it (reading them all made a finish cost grow
        -- with the jobs waiting behind each lock)
        select w.queue_name
        from changed as c
        cross join lateral (
            select n.queue_name, n.status, n.scheduled_at
            from procrastinate_jobs as n
            where
                md5(n.lock) = md5(c.lock)
                and n.lock = c.lock
                and n.status in ('todo', 'doing')
                and n.id <> c.id
            order by n.priority desc, n.id asc
            limit 1
        ) as w
        where
            c.old_status = 'doing'
            and c.status <> 'doing'
            and c.lock is not null
            and w.status = 'todo'
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

    if v_queues is not null then
        perform _procrastinate_notify('job_available', 'queues', v_queues);
    end if;
    if v_job_ids is not null then
        perform _procrastinate_notify('abort_requested', 'job_ids', v_job_ids);
    end if;
    return null;
end;
$$;

-- Events: every transition of a job is recorded in procrastinate_events, so
-- that history is one query away in psql. Statement-level triggers with
-- transition tables: one insert per statement, however many jobs it touched.

-- Every event takes its time from the job row when the row has it (created_at,
-- started_at, finished_at, scheduled_at), so that a clock pinned by a
-- function's p_now reaches the history; now() only for the moves that have
-- no time column (retries, releases, abort requests).

-- Records deferred (and scheduled) events for inserted jobs.
create function _procrastinate_record_insert_events()
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
        ('deferred'::procrastinate_job_event_type, n.created_at),
        ('scheduled'::procrastinate_job_event_type, n.scheduled_at)
    ) as e (type, at)
    where e.type = 'deferred' or n.scheduled_at is not null;
    return null;
end;
$$;

-- Records status changes, abort requests and new schedules of updated jobs.
-- Claims and finishes change a status and nothing else: their events come
-- from one plain join; the rarer abort requests and schedules from a second
-- insert, entered only when some job may have one (per job, the status event
-- still comes first). One query for all three kinds was 23% of the time of
-- a fetch + finish; this shape saves about a fifth of that.
create function _procrastinate_record_update_events()
returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
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

    if not exists (
        select 1 from new_jobs as n
        where n.abort_requested or (n.status = 'todo' and n.scheduled_at is not null)
    ) then
        return null;
    end if;

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

create or replace trigger procrastinate_jobs_insert_events_v1
after insert on procrastinate_jobs
referencing new table as new_jobs
for each statement
execute function _procrastinate_record_insert_events();

create or replace trigger procrastinate_jobs_update_events_v1
after update on procrastinate_jobs
referencing old table as old_jobs new table as new_jobs
for each statement
execute function _procrastinate_record_update_events();

create or replace trigger procrastinate_jobs_delete_events_v1
after delete on procrastinate_jobs
referencing old table as old_jobs
for each statement
execute function _procrastinate_delete_events();

create or replace trigger procrastinate_jobs_notify_insert_v1
after insert on procrastinate_jobs
referencing new table as new_jobs
for each statement
execute function _procrastinate_notify_inserted_jobs();

create or replace trigger procrastinate_jobs_notify_update_v1
after update on procrastinate_jobs
referencing old table as old_jobs new table as new_jobs
for each statement
execute function _procrastinate_notify_updated_jobs();

-- ---- defer


-- Deferring: the one insert path of the queue. Every way of creating jobs
-- (procrastinate_defer_job, procrastinate_defer_jobs, the Python driver)
-- goes through procrastinate_defer_jobs_v2, so validation lives in one place.
-- Validation is a few small checks, each returning the first problem of a
-- JSON array as (ord, message); the callers choose the SQLSTATE.

-- The first job object of p_jobs with a problem of shape or type (any key but
-- the retry policy), or whose args are over the limits of
-- procrastinate_settings (size in bytes, depth of nesting).
create function _procrastinate_job_problem(p_jobs jsonb)
returns table (ord bigint, message text)
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_known_keys text[] := array[
        'task_name', 'args', 'queue_name', 'priority', 'lock', 'queueing_lock',
        'scheduled_at', 'scheduled_in', 'max_attempts', 'retry_wait', 'retry_linear_wait',
        'retry_exponential_wait', 'retry_exceptions'
    ];
begin
    return query
    select t.ord, p.message
    from procrastinate_settings as s
    cross join jsonb_array_elements(p_jobs) with ordinality as t (job, ord)
    cross join lateral (
        select case
            when jsonb_typeof(t.job) <> 'object'
                then 'is not a JSON object'
            -- removing the known keys must leave nothing
            when t.job - v_known_keys <> '{}'::jsonb
                then 'has unknown keys: ' || (
                    select string_agg(k.key, ', ' order by k.key)
                    from jsonb_object_keys(t.job - v_known_keys) as k (key)
                )
            when jsonb_typeof(t.job -> 'task_name') is distinct from 'string'
                or t.job ->> 'task_name' = ''
                then 'needs a task_name, a non-empty string'
            when jsonb_typeof(t.job -> 'args') not in ('object', 'null')
                then 'has args that are not a JSON object (got '
                    || jsonb_typeof(t.job -> 'args') || ')'
            when pg_column_size(t.job -> 'args') > s.max_args_bytes
                then format(
                    'has args of %s bytes, over the limit of %s (procrastinate_settings.max_args_bytes)',
                    pg_column_size(t.job -> 'args'), s.max_args_bytes
                )
            -- nesting deeper than n needs at least 2n bytes: skip the walk for small args
            when pg_column_size(t.job -> 'args') > 2 * s.max_args_depth
                and jsonb_path_exists(
                    t.job -> 'args', format('strict $.**{%s}', s.max_args_depth)::jsonpath
                )
                then format(
                    'has args nested %s levels deep or more (procrastinate_settings.max_args_depth)',
                    s.max_args_depth
                )
            when jsonb_typeof(t.job -> 'queue_name') not in ('string', 'null')
                or t.job ->> 'queue_name' = ''
                then 'has a queue_name that is not a non-empty string'
            when jsonb_typeof(t.job -> 'priority') not in ('number', 'null')
                or (t.job ->> 'priority') !~ '^-?[0-9]{1,9}$'
                then 'has a priority that is not an integer'
            when jsonb_typeof(t.job -> 'lock') not in ('string', 'null')
                then 'has a lock that is not a string'
            when jsonb_typeof(t.job -> 'queueing_lock') not in ('string', 'null')
                then 'has a queueing_lock that is not a string'
            when jsonb_typeof(t.job -> 'scheduled_at') not in ('string', 'null')
                then 'has a scheduled_at that is not a timestamp string'
            when jsonb_typeof(t.job -> 'scheduled_in') not in ('number', 'null')
                or (t.job ->> 'scheduled_in')::numeric not between 0 and 1e10
                then 'has a scheduled_in that is not a number of seconds from 0 to 1e10'
            when t.job ? 'scheduled_at' and t.job ? 'scheduled_in'
                and t.job -> 'scheduled_at' <> 'null' and t.job -> 'scheduled_in' <> 'null'
                then 'has both scheduled_at and scheduled_in'
        end as message
    ) as p
    where p.message is not null
    order by t.ord
    limit 1;
end;
$$;

-- The first object of p_items whose retry policy (max_attempts, the waits,
-- retry_exceptions) is invalid: job objects, or the policies workers send.
create function _procrastinate_policy_problem(p_items jsonb)
returns table (ord bigint, message text)
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
as $$
begin
    return query
    select t.ord, p.message
    from jsonb_array_elements(p_items) with ordinality as t (item, ord)
    cross join lateral (
        select case
            when jsonb_typeof(t.item -> 'max_attempts') not in ('number', 'null')
                or (t.item ->> 'max_attempts') !~ '^-?[0-9]{1,9}$'
                then 'has a max_attempts that is not an integer'
            when (t.item ->> 'max_attempts')::integer < 0
                then 'has a negative max_attempts ('
                    || (t.item ->> 'max_attempts') || '); use 0 for no limit'
            -- a wait is null, or a number of seconds from 0 to 1e9; one key at
            -- a time (walking the object with jsonb_each was 40% of a defer),
            -- the type first, so that the cast only meets numbers
            when jsonb_typeof(t.item -> 'retry_wait') not in ('number', 'null')
                or jsonb_typeof(t.item -> 'retry_linear_wait') not in ('number', 'null')
                or jsonb_typeof(t.item -> 'retry_exponential_wait') not in ('number', 'null')
                then 'has a retry wait that is not a number of seconds from 0 to 1e9'
            when (t.item ->> 'retry_wait')::numeric not between 0 and 1e9
                or (t.item ->> 'retry_linear_wait')::numeric not between 0 and 1e9
                or (t.item ->> 'retry_exponential_wait')::numeric not between 0 and 1e9
                then 'has a retry wait that is not a number of seconds from 0 to 1e9'
            -- silent: a retry_exceptions that is not an array is caught just above
            when jsonb_typeof(t.item -> 'retry_exceptions') not in ('array', 'null')
                or jsonb_path_exists(
                    t.item, 'strict $.retry_exceptions[*] ? (@.type() != "string")', '{}', true
                )
                then 'has retry_exceptions that are not an array of class names'
        end as message
    ) as p
    where p.message is not null
    order by t.ord
    limit 1;
end;
$$;

-- A queueing lock of p_jobs that cannot be taken: used twice in the batch, or
-- held by a waiting job. Null when all are free. The message never names the
-- job that holds it (it may be another producer's).
create function _procrastinate_queueing_lock_problem(p_jobs jsonb)
returns text
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
-- The check probes the index once per job of the batch; the planner, which
-- guesses 100 jobs per batch, would rather hash every waiting job with a
-- queueing lock (0.4 s with 100,000 of them).
set enable_hashjoin = off
set enable_mergejoin = off
set enable_bitmapscan = off
as $$
declare
    v_lock text;
begin
    select q.lock into v_lock
    from (
        select t.job ->> 'queueing_lock' as lock
        from jsonb_array_elements(p_jobs) as t (job)
        where t.job ->> 'queueing_lock' is not null
    ) as q
    group by q.lock
    having count(*) > 1
    limit 1;
    if v_lock is not null then
        return format('queueing lock "%s" is used by several jobs of this batch', v_lock);
    end if;

    select j.queueing_lock into v_lock
    from jsonb_array_elements(p_jobs) as t (job)
    inner join procrastinate_jobs as j
        on
            md5(j.queueing_lock) = md5(t.job ->> 'queueing_lock')
            and j.queueing_lock = t.job ->> 'queueing_lock'
    where j.status = 'todo'
    limit 1;
    if v_lock is not null then
        return format('queueing lock "%s" is already taken by a waiting job', v_lock);
    end if;
    return null;
end;
$$;

-- Raises PT001 naming the first invalid job object of a JSON array, PT002 for
-- a queueing lock that is taken. Called by procrastinate_defer_jobs_v2.
create function _procrastinate_validate_jobs(p_jobs jsonb)
returns void
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_ord bigint;
    v_message text;
begin
    if p_jobs is null or jsonb_typeof(p_jobs) <> 'array' then
        raise exception 'jobs must be a JSON array of job objects, got %',
            coalesce(jsonb_typeof(p_jobs), 'null')
            using errcode = 'PT001';
    end if;

    select p.ord, p.message into v_ord, v_message from _procrastinate_job_problem(p_jobs) as p;
    if v_message is null and jsonb_path_exists(
        p_jobs, 'lax $[*] ? (exists(@.max_attempts) || exists(@.retry_wait)
            || exists(@.retry_linear_wait) || exists(@.retry_exponential_wait)
            || exists(@.retry_exceptions))'
    ) then
        select p.ord, p.message into v_ord, v_message
        from _procrastinate_policy_problem(p_jobs) as p;
    end if;
    if v_message is not null then
        raise exception 'job #% of % is invalid: it %', v_ord, jsonb_array_length(p_jobs), v_message
            using errcode = 'PT001',
                hint = 'A job object is {"task_name": ..., "args": {...}, "queue_name": ..., ...}';
    end if;

    if jsonb_path_exists(p_jobs, 'lax $[*].queueing_lock ? (@.type() == "string")') then
        v_message := _procrastinate_queueing_lock_problem(p_jobs);
        if v_message is not null then
            raise exception '%', v_message
                using errcode = 'PT002',
                    hint = 'Only one job per queueing lock may wait in todo.';
        end if;
    end if;
end;
$$;

-- Inserts a JSON array of already validated job objects at p_now and returns
-- their ids in input order. Called by procrastinate_defer_jobs_v2 only.
-- PL/pgSQL rather than SQL: PL/pgSQL keeps its plans, a SQL function plans
-- every call.
create function _procrastinate_insert_jobs(p_jobs jsonb, p_now timestamptz)
returns table (id bigint)
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
    return query
    with input as materialized (
        select
            t.ord,
            t.job,
            nextval('procrastinate_jobs_id_seq'::regclass) as new_id
        from jsonb_array_elements(p_jobs) with ordinality as t (job, ord)
    ),

    inserted as (
        insert into procrastinate_jobs (
            id, queue_name, task_name, priority, lock, queueing_lock, args,
            scheduled_at, max_attempts, retry_wait, retry_linear_wait,
            retry_exponential_wait, retry_exceptions, created_at, deferred_by
        )
        select
            input.new_id,
            coalesce(input.job ->> 'queue_name', 'default'),
            input.job ->> 'task_name',
            coalesce((input.job ->> 'priority')::integer, 0),
            input.job ->> 'lock',
            input.job ->> 'queueing_lock',
            coalesce(nullif(input.job -> 'args', 'null'::jsonb), '{}'::jsonb),
            coalesce(
                (input.job ->> 'scheduled_at')::timestamptz,
                -- relative times are added to the database's clock, not the caller's
                p_now + make_interval(secs => (input.job ->> 'scheduled_in')::double precision)
            ),
            (input.job ->> 'max_attempts')::integer,
            coalesce((input.job ->> 'retry_wait')::double precision, 0),
            coalesce((input.job ->> 'retry_linear_wait')::double precision, 0),
            coalesce((input.job ->> 'retry_exponential_wait')::double precision, 0),
            -- an empty list means any exception, as in procrastinate
            case jsonb_typeof(input.job -> 'retry_exceptions')
                when 'array' then nullif(array(
                    select jsonb_array_elements_text(input.job -> 'retry_exceptions')
                ), '{}')
            end,
            p_now,
            session_user
        from input
        order by input.ord
        returning 1
    )

    select input.new_id from input order by input.ord;
end;
$$;

-- Validates and inserts a JSON array of job objects, all or nothing, and
-- returns their ids in input order. Called by the Python driver for single
-- and batch defers, and by the user-facing defer functions.
create function procrastinate_defer_jobs_v2(p_jobs jsonb, p_now timestamptz default null)
returns table (id bigint)
language plpgsql
-- Lets a producer role that may only execute the defer functions insert jobs
-- (see sql/optional/roles.sql); the pinned search_path keeps it safe.
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    perform _procrastinate_validate_jobs(p_jobs);

    -- An exception block costs a subtransaction on every call: enter one only
    -- when there is an error to translate, a scheduled_at text to parse or a
    -- queueing lock that a concurrent defer may take first.
    if not jsonb_path_exists(
        p_jobs, 'lax $[*] ? (@.scheduled_at.type() == "string" || @.queueing_lock.type() == "string")'
    ) then
        return query select i.id from _procrastinate_insert_jobs(p_jobs, v_now) as i;
        return;
    end if;

    begin
        return query select i.id from _procrastinate_insert_jobs(p_jobs, v_now) as i;
    exception
        when invalid_datetime_format or datetime_field_overflow then
            raise exception 'invalid scheduled_at: %', sqlerrm
                using errcode = 'PT001';
        -- validation saw the lock free, but a concurrent defer took it since
        when unique_violation then
            raise exception 'queueing lock already taken by a waiting job'
                using errcode = 'PT002',
                    hint = 'Only one job per queueing lock may wait in todo.';
    end;
end;
$$;

-- User-facing batch defer: a JSON array of job objects (see
-- procrastinate_defer_job for the keys); ids come back in input order.
create or replace function procrastinate_defer_jobs(jobs jsonb)
returns setof bigint
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    select d.id from procrastinate_defer_jobs_v2(jobs) as d;
$$;

comment on function procrastinate_defer_jobs(jsonb) is
'Defer many jobs in one call, all or nothing. jobs is a JSON array of objects with the keys
of procrastinate_defer_job (task_name required), plus scheduled_in (seconds from now, on the
database''s clock). Returns the new ids in input order.
Example: select * from procrastinate_defer_jobs(''[{"task_name": "a"}, {"task_name": "b",
"args": {"x": 1}, "queue_name": "mail"}]'');';

-- User-facing single defer, for psql, triggers and other languages.
create or replace function procrastinate_defer_job(
    task_name text,
    args jsonb default '{}',
    queue_name text default 'default',
    priority integer default 0,
    lock text default null,
    queueing_lock text default null,
    scheduled_at timestamptz default null,
    max_attempts integer default null,
    retry_wait double precision default 0,
    retry_linear_wait double precision default 0,
    retry_exponential_wait double precision default 0,
    retry_exceptions text[] default null
)
returns bigint
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
    return (
        select d.id
        from procrastinate_defer_jobs_v2(
            jsonb_build_array(jsonb_build_object(
                'task_name', task_name,
                'args', coalesce(args, '{}'::jsonb),
                'queue_name', queue_name,
                'priority', priority,
                'lock', lock,
                'queueing_lock', queueing_lock,
                'scheduled_at', scheduled_at,
                'max_attempts', max_attempts,
                'retry_wait', retry_wait,
                'retry_linear_wait', retry_linear_wait,
                'retry_exponential_wait', retry_exponential_wait,
                'retry_exceptions', to_jsonb(retry_exceptions)
            ))
        ) as d
    );
end;
$$;

comment on function procrastinate_defer_job(
    text, jsonb, text, integer, text, text, timestamptz, integer,
    double precision, double precision, double precision, text[]
) is
'Defer one job and return its id. Only task_name is required:
  select procrastinate_defer_job(''sum_task'', ''{"a": 3, "b": 5}'');
  select procrastinate_defer_job(task_name => ''mail'', queue_name => ''emails'', priority => 5);
args: JSON object of keyword arguments. priority: higher runs first. lock: jobs sharing a lock
run one at a time, in priority then id order. queueing_lock: at most one waiting job per value
(SQLSTATE PT002 otherwise). scheduled_at: not before this time. Retries: max_attempts null
never retries, 0 retries without limit, n retries while fewer than n attempts ended; the delay
is retry_wait + retry_linear_wait * attempts + retry_exponential_wait ^ (attempts + 1) seconds;
retry_exceptions limits retries to failures of these class names. Bad input: SQLSTATE PT001.';

-- ---- fetch


-- Fetching: a worker claims up to p_limit jobs in one call.
-- Lock arbitration lives here: a job with a lock is claimable only when no
-- job sharing its lock is running and none waiting comes before it
-- (higher priority, then lower id). Waiting includes jobs scheduled for
-- later, such as a retry: jobs sharing a lock keep their order across retries.

-- Claims up to p_limit jobs for p_worker_id from p_queues (null: all queues),
-- highest priority first, then oldest, under the claim token p_claim_token.
-- A call retried because its answer was lost (p_resume true, same token)
-- first gets back the jobs the lost call claimed, and claims new ones only
-- up to p_limit with them. Called by the Python worker.
--
-- Its cost does not grow with the number of waiting jobs. Candidates are
-- gathered first, without locking anything, from ordered walks of partial
-- indexes that each hold only one kind of waiting job, so that no walk steps
-- over rows it cannot claim:
--   ready: not scheduled, without a lock (procrastinate_jobs_ready_idx_v1,
--     or per queue procrastinate_jobs_ready_queue_idx_v1): every row walked
--     is claimable, the walk stops after p_limit rows;
--   locked: not scheduled, with a lock (procrastinate_jobs_locked_idx_v1 and
--     its per-queue twin): a row is claimable only at the head of its lock,
--     so at most a window of rows is walked; if the window holds too few
--     heads (thousands of jobs behind one busy lock), the heads are looked
--     up lock by lock instead (one probe per live lock);
--   scheduled: scheduled_at set (procrastinate_jobs_scheduled_idx_v1 and its
--     per-queue twin), walked from the earliest due, within a window: jobs
--     scheduled for later are never read. When more jobs are due than the
--     window holds, those due first are considered first.
-- A queue filter, or paused queues, walk each served queue's own index (a
-- LATERAL per queue) and merge the walks. The candidates, a few more than
-- p_limit in case concurrent claims take some, are then checked again,
-- locked (SKIP LOCKED) and claimed in one statement.
create function procrastinate_fetch_jobs_v2(
    p_worker_id bigint,
    p_queues text[],
    p_limit integer,
    p_claim_token uuid default null,
    p_resume boolean default false,
    p_now timestamptz default null
)
returns table (
    id bigint,
    queue_name text,
    task_name text,
    priority integer,
    lock text,
    queueing_lock text,
    args jsonb,
    status procrastinate_job_status,
    scheduled_at timestamptz,
    attempts integer,
    abort_requested boolean,
    worker_id bigint
)
language plpgsql
-- Lets a worker role claim jobs without any right on the tables.
security definer
set search_path = pg_catalog, public, pg_temp
-- A queue table's statistics are often stale (it fills and drains faster than
-- autoanalyze runs): whatever they say, the claim walks its indexes in order
-- (no sequential or bitmap scan, which would read every waiting job), and is
-- cheap enough that JIT compilation would only add to its cost.
set jit = off
-- The plans are the same whatever the arguments: planned once per session.
set plan_cache_mode = force_generic_plan
set enable_bitmapscan = off
set enable_seqscan = off
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_resumed integer := 0;
    v_paused text[];
    -- the index keys (md5) of the queues to walk one by one; null: walk the
    -- indexes of all queues at once
    v_keys text[];
    -- candidates sought per walk: p_limit, plus room for jobs that a
    -- concurrent claim locks first
    v_wanted integer;
    -- rows of locked or scheduled jobs a walk reads at most
    v_window integer;
    v_ready bigint[];
    v_locked bigint[];
    v_scheduled bigint[];
    v_heads bigint[] := '{}';
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if p_limit is null or p_limit < 1 then
        raise exception 'p_limit must be a positive number of jobs, got %', p_limit
            using errcode = 'PT001';
    end if;
    perform _procrastinate_check_worker(p_worker_id);

    if p_resume and p_claim_token is not null then
        return query
        select
            j.id, j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock,
            j.args, j.status, j.scheduled_at, j.attempts, j.abort_requested,
            j.worker_id
        from procrastinate_jobs as j
        where
            j.worker_id = p_worker_id
            and j.status = 'doing'
            and j.claim_token = p_claim_token
        order by j.priority desc, j.id asc;
        get diagnostics v_resumed = row_count;
        if v_resumed >= p_limit then
            return;
        end if;
    end if;
    v_wanted := p_limit + 16;
    v_window := 2 * v_wanted + 32;

    select coalesce(array_agg(p.queue_name), '{}') into v_paused
    from procrastinate_paused_queues as p;

    if p_queues is not null then
        v_keys := array(
            select distinct md5(q.name)
            from unnest(p_queues) as q (name)
            where q.name <> all(v_paused)
        );
    elsif v_paused <> '{}' then
        -- every queue with waiting jobs, found by skipping from one key of
        -- the per-queue indexes to the next (one probe per queue)
        v_keys := array(
            with recursive ready (k) as (
                (
                    select md5(j.queue_name) from procrastinate_jobs as j
                    where j.status = 'todo' and j.scheduled_at is null and j.lock is null
                    order by md5(j.queue_name) limit 1
                )
                union all
                select (
                    select md5(j.queue_name) from procrastinate_jobs as j
                    where
                        j.status = 'todo' and j.scheduled_at is null and j.lock is null
                        and md5(j.queue_name) > r.k
                    order by md5(j.queue_name) limit 1
                )
                from ready as r where r.k is not null
            ),

            locked (k) as (
                (
                    select md5(j.queue_name) from procrastinate_jobs as j
                    where j.status = 'todo' and j.scheduled_at is null and j.lock is not null
                    order by md5(j.queue_name) limit 1
                )
                union all
                select (
                    select md5(j.queue_name) from procrastinate_jobs as j
                    where
                        j.status = 'todo' and j.scheduled_at is null and j.lock is not null
                        and md5(j.queue_name) > l.k
                    order by md5(j.queue_name) limit 1
                )
                from locked as l where l.k is not null
            ),

            scheduled (k) as (
                (
                    select md5(j.queue_name) from procrastinate_jobs as j
                    where j.status = 'todo' and j.scheduled_at is not null
                    order by md5(j.queue_name) limit 1
                )
                union all
                select (
                    select md5(j.queue_name) from procrastinate_jobs as j
                    where
                        j.status = 'todo' and j.scheduled_at is not null
                        and md5(j.queue_name) > s.k
                    order by md5(j.queue_name) limit 1
                )
                from scheduled as s where s.k is not null
            )

            select r.k from ready as r where r.k is not null
            union
            select l.k from locked as l where l.k is not null
            union
            select s.k from scheduled as s where s.k is not null
            except
            select md5(p.name) from unnest(v_paused) as p (name)
        );
    end if;

    if v_keys is null then
        v_ready := array(
            select j.id
            from procrastinate_jobs as j
            where j.status = 'todo' and j.scheduled_at is null and j.lock is null
            order by j.priority desc, j.id asc
            limit v_wanted
        );

        -- a locked job is claimable at the head of its lock only: first of
        -- the lock's waiting and running jobs (a scalar subquery, one index
        -- probe per row). Whether one of them runs, when it is not the head,
        -- is checked when claiming.
        v_locked := array(
            select w.id
            from (
                select j.id, j.lock, j.priority
                from procrastinate_jobs as j
                where j.status = 'todo' and j.scheduled_at is null and j.lock is not null
                order by j.priority desc, j.id asc
                limit v_window
            ) as w
            where
                (
                    select o.id from procrastinate_jobs as o
                    where
                        md5(o.lock) = md5(w.lock) and o.lock = w.lock
                        and o.status in ('todo', 'doing')
                    order by o.priority desc, o.id asc
                    limit 1
                ) = w.id
            limit v_wanted
        );

        v_scheduled := array(
            select w.id
            from (
                select j.id, j.lock, j.priority
                from procrastinate_jobs as j
                where j.status = 'todo' and j.scheduled_at is not null and j.scheduled_at <= v_now
                order by j.scheduled_at asc
                limit v_window
            ) as w
            where
                w.lock is null
                or (
                    (
                        select o.id from procrastinate_jobs as o
                        where
                            md5(o.lock) = md5(w.lock) and o.lock = w.lock
                            and o.status in ('todo', 'doing')
                        order by o.priority desc, o.id asc
                        limit 1
                    ) = w.id
                )
            limit v_wanted
        );
    else
        v_ready := array(
            select r.id
            from unnest(v_keys) as q (k)
            cross join lateral (
                select j.id, j.priority
                from procrastinate_jobs as j
                where
                    md5(j.queue_name) = q.k
                    and j.status = 'todo' and j.scheduled_at is null and j.lock is null
                    and (p_queues is null or j.queue_name = any(p_queues))
                    and j.queue_name <> all(v_paused)
                order by j.priority desc, j.id asc
                limit v_wanted
            ) as r
            order by r.priority desc, r.id asc
            limit v_wanted
        );

        v_locked := array(
            select w.id
            from unnest(v_keys) as q (k)
            cross join lateral (
                select j.id, j.lock, j.priority, j.queue_name
                from procrastinate_jobs as j
                where
                    md5(j.queue_name) = q.k
                    and j.status = 'todo' and j.scheduled_at is null and j.lock is not null
                order by j.priority desc, j.id asc
                limit v_window
            ) as w
            where
                (p_queues is null or w.queue_name = any(p_queues))
                and w.queue_name <> all(v_paused)
                and (
                    select o.id from procrastinate_jobs as o
                    where
                        md5(o.lock) = md5(w.lock) and o.lock = w.lock
                        and o.status in ('todo', 'doing')
                    order by o.priority desc, o.id asc
                    limit 1
                ) = w.id
            limit v_wanted
        );

        v_scheduled := array(
            select w.id
            from unnest(v_keys) as q (k)
            cross join lateral (
                select j.id, j.lock, j.priority, j.queue_name
                from procrastinate_jobs as j
                where
                    md5(j.queue_name) = q.k
                    and j.status = 'todo' and j.scheduled_at is not null and j.scheduled_at <= v_now
                order by j.scheduled_at asc
                limit v_window
            ) as w
            where
                (p_queues is null or w.queue_name = any(p_queues))
                and w.queue_name <> all(v_paused)
                and (
                    w.lock is null
                    or (
                        (
                            select o.id from procrastinate_jobs as o
                            where
                                md5(o.lock) = md5(w.lock) and o.lock = w.lock
                                and o.status in ('todo', 'doing')
                            order by o.priority desc, o.id asc
                            limit 1
                        ) = w.id
                    )
                )
            limit v_wanted
        );
    end if;

    -- Too few heads in the windows, and more locked jobs than the windows
    -- hold: look at the head of each live lock instead, skipping from one
    -- lock to the next in procrastinate_jobs_lock_order_idx_v1.
    if
        cardinality(v_locked) + cardinality(v_scheduled) < v_wanted
        and (
            exists (
                select 1 from procrastinate_jobs as j
                where j.status = 'todo' and j.scheduled_at is null and j.lock is not null
                order by j.priority desc, j.id asc
                offset v_window - 1
            )
            or exists (
                select 1 from procrastinate_jobs as j
                where j.status = 'todo' and j.scheduled_at is not null and j.scheduled_at <= v_now
                order by j.scheduled_at asc
                offset v_window - 1
            )
        )
    then
        v_heads := array(
            with recursive live_lock (k) as (
                (
                    select md5(j.lock) from procrastinate_jobs as j
                    where j.status in ('todo', 'doing') and j.lock is not null
                    order by md5(j.lock) limit 1
                )
                union all
                select (
                    select md5(j.lock) from procrastinate_jobs as j
                    where
                        j.status in ('todo', 'doing') and j.lock is not null
                        and md5(j.lock) > l.k
                    order by md5(j.lock) limit 1
                )
                from live_lock as l where l.k is not null
            )

            select h.id
            from live_lock as l
            cross join lateral (
                select j.id, j.priority, j.status, j.scheduled_at, j.queue_name
                from procrastinate_jobs as j
                where md5(j.lock) = l.k and j.status in ('todo', 'doing') and j.lock is not null
                order by j.priority desc, j.id asc
                limit 1
            ) as h
            where
                l.k is not null
                and h.status = 'todo'
                and (h.scheduled_at is null or h.scheduled_at <= v_now)
                and (p_queues is null or h.queue_name = any(p_queues))
                and h.queue_name <> all(v_paused)
            order by h.priority desc, h.id asc
            limit v_wanted
        );
    end if;

    return query
    with candidate as (
        select j.id
        from procrastinate_jobs as j
        where
            j.id = any(v_ready || v_locked || v_scheduled || v_heads)
            and j.status = 'todo'
            and (p_queues is null or j.queue_name = any(p_queues))
            and j.queue_name <> all(v_paused)
            and (j.scheduled_at is null or j.scheduled_at <= v_now)
            and (
                j.lock is null
                or (
                    -- first of its lock's waiting and running jobs (one probe
                    -- of procrastinate_jobs_lock_order_idx_v1, stopping at its
                    -- first row however many jobs share the lock)
                    (
                        select other.id
                        from procrastinate_jobs as other
                        where
                            md5(other.lock) = md5(j.lock)
                            and other.lock = j.lock
                            and other.status in ('todo', 'doing')
                        order by other.priority desc, other.id asc
                        limit 1
                    ) = j.id
                    -- and none of them runs
                    and not exists (
                        select 1
                        from procrastinate_jobs as other
                        where
                            md5(other.lock) = md5(j.lock)
                            and other.lock = j.lock
                            and other.status = 'doing'
                    )
                )
            )
        order by j.priority desc, j.id asc
        limit p_limit - v_resumed
        for update of j skip locked
    ),

    claimed as (
        update procrastinate_jobs as j
        set
            status = 'doing',
            worker_id = p_worker_id,
            started_at = v_now,
            claim_token = p_claim_token
        from candidate
        where j.id = candidate.id
        returning
            j.id, j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock,
            j.args, j.status, j.scheduled_at, j.attempts, j.abort_requested,
            j.worker_id
    )

    select c.*
    from claimed as c
    order by c.priority desc, c.id asc;
end;
$$;

-- User-facing fetch, for workers written in other languages: claims up to
-- max_jobs jobs. Report each one with procrastinate_finish_job.
create or replace function procrastinate_fetch_jobs(
    queues text[] default null,
    max_jobs integer default 1,
    worker_id bigint default null
)
returns table (
    id bigint,
    queue_name text,
    task_name text,
    priority integer,
    lock text,
    queueing_lock text,
    args jsonb,
    status procrastinate_job_status,
    scheduled_at timestamptz,
    attempts integer,
    abort_requested boolean,
    worker_id bigint
)
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    select f.* from procrastinate_fetch_jobs_v2(worker_id, queues, max_jobs) as f;
$$;

comment on function procrastinate_fetch_jobs(text[], integer, bigint) is
'Claim up to max_jobs waiting jobs (status todo -> doing) from queues (null: all queues), for a
worker written in any language. Jobs come highest priority first, then oldest; jobs scheduled
for later, jobs of paused queues and jobs whose lock is busy are skipped. Concurrent callers
never get the same job (FOR UPDATE SKIP LOCKED). Report the end of each job with
procrastinate_finish_job(job_id, status, ..., worker_id => the same worker_id,
attempt => the job''s attempts as fetched).';

-- ---- finish


-- Finishing: workers report outcomes, many jobs per call. Retry scheduling is
-- decided here from the job's own retry policy, unless the worker sends an
-- explicit decision (a custom retry strategy in Python). Reports are fenced:
-- only the worker holding the job, at the attempt it fetched, changes it.

-- Seconds to wait before the next attempt, procrastinate's formula:
-- wait + linear_wait * attempts + exponential_wait ^ (attempts + 1), capped at
-- about 300 years so that a long-retrying job cannot overflow.
create or replace function procrastinate_retry_delay_v1(
    p_attempts integer,
    p_wait double precision,
    p_linear_wait double precision,
    p_exponential_wait double precision
)
returns interval
language sql
immutable
set search_path = pg_catalog, public, pg_temp
as $$
    -- each term is capped first, so that no sum or product can overflow
    select make_interval(secs => least(
        least(p_wait, 1e10)
        + least(p_linear_wait, 1e10) * p_attempts
        + case
            when p_exponential_wait = 0 then 0
            else exp(least((p_attempts + 1) * ln(p_exponential_wait), 23.0))
        end,
        1e10
    ));
$$;

-- Applies outcomes already validated by procrastinate_finish_jobs_v1: the
-- fenced update, the retry decision and the deletes, one result row per
-- outcome. A failure, or a run interrupted by its worker's shutdown, goes
-- back to todo when the explicit decision or the retry policy says so.
-- Called by procrastinate_finish_jobs_v1 only.
create function _procrastinate_apply_outcomes(
    p_worker_id bigint,
    p_outcomes jsonb,
    p_delete_jobs text,
    p_now timestamptz
)
returns table (
    job_id bigint,
    accepted boolean,
    status procrastinate_job_status,
    scheduled_at timestamptz,
    reason text
)
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
    return query
    with outcome as (
        select
            t.ord,
            (t.o ->> 'id')::bigint as id,
            (t.o ->> 'attempt')::integer as attempt,
            (t.o ->> 'status')::procrastinate_job_status as status,
            t.o -> 'error' ->> 'message' as error_message,
            case jsonb_typeof(t.o -> 'error' -> 'types')
                when 'array' then array(
                    select jsonb_array_elements_text(t.o -> 'error' -> 'types')
                )
            end as error_types,
            t.o -> 'retry' as retry,
            coalesce((t.o ->> 'interrupted')::boolean, false) as interrupted,
            -- the task's retry policy as the worker knows it, for a job
            -- deferred without one (by name, from SQL or another service)
            t.o -> 'policy' as policy,
            -- a job reported twice in one call is applied once, first report wins
            row_number() over (partition by t.o ->> 'id' order by t.ord) as report_rank
        from jsonb_array_elements(p_outcomes) with ordinality as t (o, ord)
    ),

    held as materialized (
        select
            o.ord,
            j.id,
            o.status as reported,
            o.error_message,
            o.error_types,
            case
                when j.abort_requested then null
                when o.status <> 'failed' and not (o.status = 'aborted' and o.interrupted)
                    then null
                when jsonb_typeof(o.retry) = 'object' then coalesce(
                    (o.retry ->> 'at')::timestamptz,
                    -- relative times are added to the database's clock
                    p_now + make_interval(secs => (o.retry ->> 'in')::double precision),
                    p_now
                )
                when o.retry = 'false'::jsonb then null
                when
                    p.max_attempts is not null
                    and (p.max_attempts = 0 or j.attempts < p.max_attempts)
                    and (
                        coalesce(cardinality(p.retry_exceptions), 0) = 0
                        or p.retry_exceptions && o.error_types
                    )
                    then p_now + procrastinate_retry_delay_v1(
                        j.attempts, p.retry_wait, p.retry_linear_wait,
                        p.retry_exponential_wait
                    )
            end as retry_at,
            (o.retry ->> 'priority')::integer as retry_priority,
            o.retry ->> 'queue' as retry_queue,
            o.retry ->> 'lock' as retry_lock
        from outcome as o
        inner join procrastinate_jobs as j on j.id = o.id
        -- the job's own policy, else the one the worker sent
        cross join lateral (
            select
                j.max_attempts,
                j.retry_wait,
                j.retry_linear_wait,
                j.retry_exponential_wait,
                j.retry_exceptions
            where j.max_attempts is not null or o.policy is null
            union all
            select
                (o.policy ->> 'max_attempts')::integer,
                coalesce((o.policy ->> 'retry_wait')::double precision, 0),
                coalesce((o.policy ->> 'retry_linear_wait')::double precision, 0),
                coalesce((o.policy ->> 'retry_exponential_wait')::double precision, 0),
                case jsonb_typeof(o.policy -> 'retry_exceptions')
                    when 'array' then array(
                        select jsonb_array_elements_text(o.policy -> 'retry_exceptions')
                    )
                end
            where j.max_attempts is null and o.policy is not null
        ) as p
        where
            o.report_rank = 1
            and j.status = 'doing'
            and j.worker_id is not distinct from p_worker_id
            and (o.attempt is null or j.attempts = o.attempt)
        order by j.id
        for update of j
    ),

    decided as (
        select
            h.*,
            case when h.retry_at is not null then 'todo' else h.reported end
            ::procrastinate_job_status as new_status
        from held as h
    ),

    deleted as (
        delete from procrastinate_jobs as j
        using decided as d
        where
            j.id = d.id
            and (
                (p_delete_jobs = 'always' and d.new_status <> 'todo')
                or (p_delete_jobs = 'successful' and d.new_status = 'succeeded')
            )
        returning j.id
    ),

    updated as (
        update procrastinate_jobs as j
        set
            status = d.new_status,
            attempts = j.attempts + 1,
            abort_requested = false,
            worker_id = case when d.new_status = 'todo' then null else j.worker_id end,
            scheduled_at = case
                when d.new_status = 'todo' then d.retry_at else j.scheduled_at
            end,
            finished_at = case when d.new_status = 'todo' then null else p_now end,
            priority = coalesce(d.retry_priority, j.priority),
            queue_name = coalesce(d.retry_queue, j.queue_name),
            lock = coalesce(d.retry_lock, j.lock),
            last_error = case
                when d.reported = 'failed' then d.error_message else j.last_error
            end,
            last_error_types = case
                when d.reported = 'failed' then d.error_types else j.last_error_types
            end
        from decided as d
        where
            j.id = d.id
            and not exists (select 1 from deleted as x where x.id = d.id)
        returning j.id
    )

    select
        o.id,
        d.id is not null,
        d.new_status,
        case when d.new_status = 'todo' then d.retry_at end,
        case
            when d.id is not null then null
            when o.report_rank > 1 then 'duplicate'
            when exists (select 1 from procrastinate_jobs as j where j.id = o.id)
                then 'not_held'
            else 'not_found'
        end
    from outcome as o
    left join decided as d on d.ord = o.ord
    order by o.ord;
end;
$$;

-- The first outcome of p_outcomes with a problem, as (ord, sqlstate,
-- message): PT004 for a status a worker cannot report, PT005 for any other
-- malformed member, or for a retry policy the worker sends that a job's own
-- policy could not have (_procrastinate_policy_problem).
create function _procrastinate_outcome_problem(p_outcomes jsonb)
returns table (ord bigint, sqlstate text, message text)
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
as $$
begin
    return query
    select t.ord, p.problem[1], format('outcome #%s %s', t.ord, p.problem[2])
    from jsonb_array_elements(p_outcomes) with ordinality as t (o, ord)
    cross join lateral (
        select case
            when jsonb_typeof(t.o) <> 'object'
                then array['PT005', 'is not a JSON object']
            when jsonb_typeof(t.o -> 'id') is distinct from 'number'
                or (t.o ->> 'id') !~ '^[0-9]{1,18}$'
                then array['PT005', 'needs an integer id']
            when jsonb_typeof(t.o -> 'attempt') not in ('number', 'null')
                or (t.o ->> 'attempt') !~ '^[0-9]{1,9}$'
                then array['PT005', 'has an attempt that is not an integer']
            when jsonb_typeof(t.o -> 'status') is distinct from 'string'
                or t.o ->> 'status' not in ('succeeded', 'failed', 'aborted')
                then array['PT004', 'has status ' || coalesce(t.o ->> 'status', 'null')
                    || ', expected succeeded, failed or aborted']
            when jsonb_typeof(t.o -> 'error') not in ('object', 'null')
                or jsonb_typeof(t.o -> 'error' -> 'types') not in ('array', 'null')
                or jsonb_typeof(t.o -> 'error' -> 'message') not in ('string', 'null')
                or jsonb_path_exists(t.o, 'lax $.error.types[*] ? (@.type() != "string")')
                then array['PT005',
                    'has an error that is not {"types": [class names], "message": text}']
            when jsonb_typeof(t.o -> 'interrupted') not in ('boolean', 'null')
                then array['PT005', 'has an interrupted that is not a boolean']
            when jsonb_typeof(t.o -> 'retry') not in ('object', 'boolean', 'null')
                or t.o -> 'retry' = 'true'::jsonb
                then array['PT005', 'has a retry that is neither false nor a decision object']
            when jsonb_typeof(t.o -> 'retry') = 'object' and (
                jsonb_typeof(t.o -> 'retry' -> 'at') not in ('string', 'null')
                or jsonb_typeof(t.o -> 'retry' -> 'in') not in ('number', 'null')
                or (t.o -> 'retry' ->> 'in')::numeric not between 0 and 1e10
                or jsonb_typeof(t.o -> 'retry' -> 'priority') not in ('number', 'null')
                or (t.o -> 'retry' ->> 'priority') !~ '^-?[0-9]{1,9}$'
                or jsonb_typeof(t.o -> 'retry' -> 'queue') not in ('string', 'null')
                or t.o -> 'retry' ->> 'queue' = ''
                or jsonb_typeof(t.o -> 'retry' -> 'lock') not in ('string', 'null')
            )
                then array['PT005', 'has a retry decision that is not {"at": timestamp, '
                    || '"in": seconds, "priority": integer, "queue": text, "lock": text}']
            when jsonb_typeof(t.o -> 'policy') not in ('object', 'null')
                then array['PT005', 'has a policy that is not an object']
        end as problem
    ) as p
    where p.problem is not null
    order by t.ord
    limit 1;
    if found or not jsonb_path_exists(p_outcomes, 'lax $[*].policy ? (@.type() == "object")') then
        return;
    end if;

    return query
    select t.ord, 'PT005', 'an outcome carries an invalid retry policy: it ' || p.message
    from jsonb_array_elements(p_outcomes) with ordinality as t (o, ord)
    cross join lateral _procrastinate_policy_problem(jsonb_build_array(t.o -> 'policy')) as p
    where jsonb_typeof(t.o -> 'policy') = 'object'
    order by t.ord
    limit 1;
end;
$$;

-- Applies a JSON array of outcomes ({"id", "attempt", "status", "error",
-- "interrupted", "retry", "policy"}) reported by p_worker_id; one result row
-- per outcome. Called by the Python worker (and procrastinate_finish_job).
create or replace function procrastinate_finish_jobs_v1(
    p_worker_id bigint,
    p_outcomes jsonb,
    p_delete_jobs text default 'never',
    p_now timestamptz default null
)
returns table (
    job_id bigint,
    accepted boolean,
    status procrastinate_job_status,
    scheduled_at timestamptz,
    reason text
)
language plpgsql
-- Lets a worker role report without any right on the tables.
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_problem record;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if p_delete_jobs is null or p_delete_jobs not in ('never', 'successful', 'always') then
        raise exception 'p_delete_jobs must be never, successful or always, got %',
            coalesce(p_delete_jobs, 'null')
            using errcode = 'PT001';
    end if;
    if p_outcomes is null or jsonb_typeof(p_outcomes) <> 'array' then
        raise exception 'outcomes must be a JSON array, got %',
            coalesce(jsonb_typeof(p_outcomes), 'null')
            using errcode = 'PT005';
    end if;
    perform _procrastinate_check_worker(p_worker_id);

    select p.sqlstate, p.message into v_problem from _procrastinate_outcome_problem(p_outcomes) as p;
    if v_problem.message is not null then
        raise exception '%', v_problem.message using errcode = v_problem.sqlstate;
    end if;

    -- An exception block costs a subtransaction on every call: enter one only
    -- when a cast can fail (a retry time to parse).
    if not jsonb_path_exists(p_outcomes, 'lax $[*] ? (@.retry.at.type() == "string")') then
        return query select * from _procrastinate_apply_outcomes(
            p_worker_id, p_outcomes, p_delete_jobs, v_now
        );
        return;
    end if;
    begin
        return query select * from _procrastinate_apply_outcomes(
            p_worker_id, p_outcomes, p_delete_jobs, v_now
        );
    exception
        when invalid_datetime_format or datetime_field_overflow then
            raise exception 'malformed outcome: %', sqlerrm
                using errcode = 'PT005';
    end;
end;
$$;

-- User-facing finish, for workers written in other languages: reports the end
-- of one job fetched with procrastinate_fetch_jobs. Returns the new status.
create or replace function procrastinate_finish_job(
    job_id bigint,
    status text,
    error_message text default null,
    error_types text[] default null,
    worker_id bigint default null,
    attempt integer default null
)
returns procrastinate_job_status
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_result record;
begin
    select f.* into v_result
    from procrastinate_finish_jobs_v1(
        worker_id,
        jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
            'id', job_id,
            'attempt', attempt,
            'status', status,
            'error', case
                when error_message is not null or error_types is not null
                    then jsonb_build_object(
                        'message', error_message, 'types', to_jsonb(error_types)
                    )
            end
        )))
    ) as f;

    if v_result.reason = 'not_found' then
        raise exception 'job % does not exist', job_id
            using errcode = 'PT003';
    elsif v_result.reason = 'not_held' then
        raise exception 'job % is not held by worker % at attempt %: its status is %',
            job_id, coalesce(worker_id::text, 'null'), coalesce(attempt::text, 'any'),
            procrastinate_get_job_status_v1(job_id)
            using errcode = 'PT004',
                hint = 'Only the worker that fetched a job (and at that attempt) can finish it.';
    end if;
    return v_result.status;
end;
$$;

comment on function procrastinate_finish_job(bigint, text, text, text[], bigint, integer) is
'Report the end of a job fetched with procrastinate_fetch_jobs: status is succeeded, failed
or aborted. A failure is retried if the job''s retry policy allows it (the result is then
todo, and the job waits for its retry delay); error_types (the exception class and its
bases) are matched against the job''s retry_exceptions. worker_id and attempt fence the
report: a job not held by that worker at that attempt is left as it is (SQLSTATE PT004);
an unknown job raises PT003.';

-- ---- periodic


-- Periodic (cron) tasks: every worker defers the ticks it finds due, and this
-- function makes sure each tick yields exactly one job however many workers
-- try. The tick row and its job are written in one transaction, so a crash
-- in the middle leaves nothing behind and blocks no later tick.

-- Defers p_job (a job object, see procrastinate_defer_jobs_v2) for tick
-- p_defer_timestamp (unix seconds) of periodic task p_task_name/p_periodic_id.
-- Returns the job id, or null when that tick was already deferred.
create or replace function procrastinate_defer_periodic_job_v1(
    p_task_name text,
    p_periodic_id text,
    p_defer_timestamp bigint,
    p_job jsonb
)
returns bigint
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_defer_id bigint;
    v_job_id bigint;
begin
    -- One deferrer at a time per periodic task, so that the check below and
    -- the insert see the same latest tick.
    perform pg_advisory_xact_lock(
        hashtextextended('procrastinate periodic ' || p_task_name || ' ' || coalesce(p_periodic_id, ''), 0)
    );
    -- A tick older than the latest one already deferred is a lagging
    -- worker's: it was handled (or deliberately skipped) by then.
    if exists (
        select 1
        from procrastinate_periodic_defers as p
        where
            p.task_name = p_task_name
            and p.periodic_id = coalesce(p_periodic_id, '')
            and p.defer_timestamp >= p_defer_timestamp
    ) then
        return null;
    end if;

    insert into procrastinate_periodic_defers (task_name, periodic_id, defer_timestamp)
    values (p_task_name, coalesce(p_periodic_id, ''), p_defer_timestamp)
    on conflict do nothing
    returning id into v_defer_id;

    if v_defer_id is null then
        return null;
    end if;

    select d.id into v_job_id from procrastinate_defer_jobs_v2(jsonb_build_array(p_job)) as d;

    update procrastinate_periodic_defers as p
    set job_id = v_job_id
    where p.id = v_defer_id;

    -- Only the latest tick of each periodic task needs remembering.
    delete from procrastinate_periodic_defers as p
    where
        p.task_name = p_task_name
        and p.periodic_id = coalesce(p_periodic_id, '')
        and p.defer_timestamp < p_defer_timestamp;

    return v_job_id;
end;
$$;

-- The latest deferred tick of each periodic task: workers start from there
-- when they compute which ticks are due.
create or replace function procrastinate_last_periodic_ticks_v1()
returns table (task_name text, periodic_id text, defer_timestamp bigint)
language sql
stable
security definer
set search_path = pg_catalog, public, pg_temp
as $$
    select p.task_name, p.periodic_id, max(p.defer_timestamp)
    from procrastinate_periodic_defers as p
    group by p.task_name, p.periodic_id;
$$;

-- ---- managing single jobs


-- Managing single jobs: cancel, abort, manual retry, status. The _v1
-- functions are what the Python driver's JobManager calls; the user-facing
-- functions without a version are one-line wrappers over them.

-- Cancels a waiting job (todo -> cancelled, or deleted with delete_job), or
-- with abort asks the worker running it to stop. True when something changed.
-- No defaults: while a procrastinate 3.x database is converted, 3.x calls its
-- own procrastinate_cancel_job_v1 with three arguments, which must match
-- that one only.
create function procrastinate_cancel_job_v1(
    job_id bigint,
    abort boolean,
    delete_job boolean,
    p_now timestamptz
)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_status procrastinate_job_status;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if job_id is null or abort is null or delete_job is null then
        raise exception 'job_id, abort and delete_job must not be null' using errcode = 'PT001';
    end if;
    select j.status into v_status
    from procrastinate_jobs as j
    where j.id = job_id
    for update;

    if not found then
        raise exception 'job % does not exist', job_id
            using errcode = 'PT003';
    end if;

    if v_status = 'todo' and delete_job then
        delete from procrastinate_jobs as j where j.id = job_id;
    elsif v_status = 'todo' then
        update procrastinate_jobs as j
        set status = 'cancelled', finished_at = v_now
        where j.id = job_id;
    elsif v_status = 'doing' and abort then
        update procrastinate_jobs as j
        set abort_requested = true
        where j.id = job_id and not j.abort_requested;
    else
        return false;
    end if;
    return true;
end;
$$;

-- Puts a failed job (or a running one, ending its run) back in the queue.
-- Returns the new status: todo, or failed for a running job whose abort was
-- requested (procrastinate's rule).
-- No defaults, for the same reason as procrastinate_cancel_job_v1 (3.x's
-- procrastinate_retry_job_v1 takes five arguments).
create function procrastinate_retry_job_v1(
    job_id bigint,
    retry_at timestamptz,
    priority integer,
    queue_name text,
    lock text,
    p_now timestamptz
)
returns procrastinate_job_status
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_job record;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if job_id is null then
        raise exception 'job_id must not be null' using errcode = 'PT001';
    end if;
    if queue_name = '' then
        raise exception 'queue_name must not be empty'
            using errcode = 'PT001';
    end if;
    select j.status, j.abort_requested into v_job
    from procrastinate_jobs as j
    where j.id = job_id
    for update;

    if not found then
        raise exception 'job % does not exist', job_id
            using errcode = 'PT003';
    end if;
    if v_job.status not in ('failed', 'doing') then
        raise exception 'job % cannot be retried: its status is % (only failed or running jobs can be)',
            job_id, v_job.status
            using errcode = 'PT004';
    end if;

    if v_job.status = 'doing' and v_job.abort_requested then
        update procrastinate_jobs as j
        set
            status = 'failed',
            attempts = j.attempts + 1,
            abort_requested = false,
            finished_at = v_now
        where j.id = job_id;
        return 'failed';
    end if;

    update procrastinate_jobs as j
    set
        status = 'todo',
        -- ending a run counts as an attempt and fences off its worker
        attempts = j.attempts + (v_job.status = 'doing')::integer,
        worker_id = null,
        scheduled_at = retry_at,
        finished_at = null,
        priority = coalesce(procrastinate_retry_job_v1.priority, j.priority),
        queue_name = coalesce(procrastinate_retry_job_v1.queue_name, j.queue_name),
        lock = coalesce(procrastinate_retry_job_v1.lock, j.lock)
    where j.id = job_id;
    return 'todo';
end;
$$;

-- The status of one job; PT003 when it does not exist, or when a producer
-- asks for a job its login role did not defer (it cannot tell the two apart).
create function procrastinate_get_job_status_v1(job_id bigint)
returns procrastinate_job_status
language plpgsql
stable
-- Producers may read the status of their jobs without reading the jobs table.
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_status procrastinate_job_status;
begin
    if job_id is null then
        raise exception 'job_id must not be null' using errcode = 'PT001';
    end if;
    select j.status into v_status
    from procrastinate_jobs as j
    where
        j.id = job_id
        and (j.deferred_by = session_user or _procrastinate_sees_all_jobs());
    if not found then
        raise exception 'job % does not exist', job_id
            using errcode = 'PT003';
    end if;
    return v_status;
end;
$$;

create or replace function procrastinate_cancel_job(
    job_id bigint,
    abort boolean default false,
    delete_job boolean default false
)
returns boolean
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    -- every argument given: during a conversion from procrastinate 3.x, its
    -- procrastinate_cancel_job_v1(bigint, boolean, boolean) exists too
    select procrastinate_cancel_job_v1(job_id, abort, delete_job, null);
$$;

comment on function procrastinate_cancel_job(bigint, boolean, boolean) is
'Cancel a job. A waiting job (todo) becomes cancelled, or is deleted when delete_job is true.
A running job (doing) is only touched when abort is true: abort_requested is set and the
worker running it is notified; it ends aborted. Returns true when the job was cancelled or
its abort requested, false when its status allows neither (already finished, or running and
abort is false). An unknown job_id raises SQLSTATE PT003.';

create or replace function procrastinate_retry_job(
    job_id bigint,
    retry_at timestamptz default null,
    priority integer default null,
    queue_name text default null,
    lock text default null
)
returns procrastinate_job_status
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    -- every argument given: during a conversion from procrastinate 3.x, its
    -- procrastinate_retry_job_v1 with five arguments exists too
    select procrastinate_retry_job_v1(job_id, retry_at, priority, queue_name, lock, null);
$$;

comment on function procrastinate_retry_job(bigint, timestamptz, integer, text, text) is
'Put a failed job back in the queue (failed -> todo), at retry_at (null: now), optionally with
a new priority, queue_name or lock. A running job may be retried too (its run ends and counts
as an attempt), except one whose abort was requested: it ends failed. Returns the new status.
Unknown job: SQLSTATE PT003; a job in another status: PT004.';

create or replace function procrastinate_get_job_status(job_id bigint)
returns procrastinate_job_status
language sql
stable
set search_path = pg_catalog, public, pg_temp
as $$
    select procrastinate_get_job_status_v1(job_id);
$$;

comment on function procrastinate_get_job_status(bigint) is
'The status of a job (todo, doing, succeeded, failed, cancelled, aborted). Unknown job:
SQLSTATE PT003. A producer role sees only the jobs its login role deferred; other jobs read
as unknown.';

-- ---- listings


-- Listings for the Python driver's JobManager (procrastinate shell, the
-- deprecated stalled-jobs API): jobs by filter and job counts by queue, task
-- or lock. Worker and operator roles have no right on the tables; these read
-- them for them. A producer gets SQLSTATE 42501: it sees only the status of
-- its own jobs (procrastinate_get_job_status).

-- Jobs matching every non-null filter, by id. p_silent_for: only running
-- jobs whose worker is gone or silent for longer than that many seconds;
-- p_running_for: only jobs running for longer than that many seconds.
create function procrastinate_list_jobs_v1(
    p_id bigint default null,
    p_queue text default null,
    p_task text default null,
    p_status text default null,
    p_lock text default null,
    p_queueing_lock text default null,
    p_worker_id bigint default null,
    p_abort_requested boolean default null,
    p_silent_for double precision default null,
    p_running_for double precision default null,
    p_now timestamptz default null
)
returns table (
    id bigint,
    queue_name text,
    task_name text,
    priority integer,
    lock text,
    queueing_lock text,
    args jsonb,
    status procrastinate_job_status,
    scheduled_at timestamptz,
    attempts integer,
    abort_requested boolean,
    worker_id bigint
)
language plpgsql
stable
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if not _procrastinate_sees_all_jobs() then
        raise exception 'listing jobs needs the worker or operator role' using errcode = '42501';
    end if;
    return query
    select
        j.id, j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock, j.args,
        j.status, j.scheduled_at, j.attempts, j.abort_requested, j.worker_id
    from procrastinate_jobs as j
    where
        (p_id is null or j.id = p_id)
        and (p_queue is null or j.queue_name = p_queue)
        and (p_task is null or j.task_name = p_task)
        and (p_status is null or j.status::text = p_status)
        and (p_lock is null or j.lock = p_lock)
        and (p_queueing_lock is null or j.queueing_lock = p_queueing_lock)
        and (p_worker_id is null or j.worker_id = p_worker_id)
        and (p_abort_requested is null or j.abort_requested = p_abort_requested)
        and (
            p_silent_for is null
            or (
                j.status = 'doing'
                and not exists (
                    select 1
                    from procrastinate_workers as w
                    where
                        w.id = j.worker_id
                        and w.last_heartbeat >= v_now - make_interval(secs => p_silent_for)
                )
            )
        )
        and (
            p_running_for is null
            or (
                j.status = 'doing'
                and j.started_at < v_now - make_interval(secs => p_running_for)
            )
        )
    order by j.id;
end;
$$;

-- Jobs per status of each queue, task or lock (p_by), with the filters of
-- procrastinate shell.
create function procrastinate_job_counts_v1(
    p_by text,
    p_queue text default null,
    p_task text default null,
    p_status text default null,
    p_lock text default null
)
returns table (
    name text,
    jobs_count bigint,
    todo bigint,
    doing bigint,
    succeeded bigint,
    failed bigint,
    cancelled bigint,
    aborted bigint
)
language plpgsql
stable
security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
    if p_by is null or p_by not in ('queue', 'task', 'lock') then
        raise exception 'p_by must be queue, task or lock, got %', coalesce(p_by, 'null')
            using errcode = 'PT001';
    end if;
    if not _procrastinate_sees_all_jobs() then
        raise exception 'counting jobs needs the worker or operator role' using errcode = '42501';
    end if;
    return query
    select
        k.name,
        count(*),
        count(*) filter (where j.status = 'todo'),
        count(*) filter (where j.status = 'doing'),
        count(*) filter (where j.status = 'succeeded'),
        count(*) filter (where j.status = 'failed'),
        count(*) filter (where j.status = 'cancelled'),
        count(*) filter (where j.status = 'aborted')
    from procrastinate_jobs as j
    cross join lateral (
        select case p_by
            when 'queue' then j.queue_name when 'task' then j.task_name else j.lock
        end as name
    ) as k
    where
        k.name is not null
        and (p_queue is null or j.queue_name = p_queue)
        and (p_task is null or j.task_name = p_task)
        and (p_status is null or j.status::text = p_status)
        and (p_lock is null or j.lock = p_lock)
    group by k.name
    order by k.name;
end;
$$;

-- ---- workers and rescue


-- Workers: registration, heartbeats, abort confirmation. Called by the
-- Python worker (and by workers in other languages: docs/sql-api.md); rows
-- are readable from psql (who runs what, since when). A worker id belongs to
-- the login role that registered it (_procrastinate_check_worker).

-- Registers a starting worker and returns its id. p_stalled_after is its
-- lease: seconds of silence after which its jobs may be rescued (null: the
-- setting procrastinate_settings.stalled_worker_timeout).
create function procrastinate_register_worker_v2(
    p_name text,
    p_queues text[],
    p_concurrency integer,
    p_host text,
    p_pid integer,
    p_stalled_after double precision default null,
    p_now timestamptz default null
)
returns bigint
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_id bigint;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if p_stalled_after <= 0 then
        raise exception 'p_stalled_after must be a positive number of seconds, got %',
            p_stalled_after
            using errcode = 'PT001';
    end if;
    if p_concurrency < 1 then
        raise exception 'p_concurrency must be a positive number of jobs, got %', p_concurrency
            using errcode = 'PT001';
    end if;
    insert into procrastinate_workers (
        name, queues, concurrency, host, pid, started_at, last_heartbeat,
        registered_by, stalled_after, alive_since
    )
    values (
        coalesce(p_name, 'worker'), p_queues, p_concurrency, p_host, p_pid, v_now, v_now,
        session_user, p_stalled_after, v_now
    )
    returning id into v_id;
    return v_id;
end;
$$;

-- Removes a stopping worker. Jobs it still holds (their outcome could not be
-- reported) go back to the queue, their run counted as an attempt, so that
-- nothing stays in doing without a worker; those whose abort was requested
-- end aborted. Returns how many jobs were released.
create function procrastinate_unregister_worker_v2(
    p_worker_id bigint,
    p_now timestamptz default null
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_released integer;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    perform _procrastinate_check_worker(p_worker_id);
    update procrastinate_jobs as j
    set
        status = case when j.abort_requested then 'aborted' else 'todo' end
        ::procrastinate_job_status,
        attempts = j.attempts + 1,
        worker_id = case when j.abort_requested then j.worker_id end,
        finished_at = case when j.abort_requested then v_now end,
        abort_requested = false
    where j.worker_id = p_worker_id and j.status = 'doing';
    get diagnostics v_released = row_count;

    delete from procrastinate_workers as w where w.id = p_worker_id;
    return v_released;
end;
$$;

-- Gives back jobs a worker claimed ahead (its prefetch buffer) and never
-- started, when it stops or when their abort is requested: back to todo as
-- they were, no attempt counted (their event is released: they never ran);
-- a job whose abort was requested ends aborted, like any pending abort.
-- Jobs of other workers, or no longer in doing, are left alone. Returns the
-- ids released.
-- One fresh job (attempts 0) per queueing lock may wait: a claimed job whose
-- lock a waiting fresh job took meanwhile (or another of the same call, the
-- oldest being released) is not released here; it stays with the worker,
-- which unregistering gives back as a retry, like any job it held.
create function procrastinate_release_jobs_v2(
    p_worker_id bigint,
    p_job_ids bigint[],
    p_now timestamptz default null
)
returns setof bigint
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    perform _procrastinate_check_worker(p_worker_id);
    return query
    with asked as (
        select j.id, j.queueing_lock, j.attempts, j.abort_requested
        from procrastinate_jobs as j
        where
            j.id = any(p_job_ids)
            and j.worker_id = p_worker_id
            and j.status = 'doing'
        for update
    ),

    releasable as (
        select a.id
        from asked as a
        where
            a.abort_requested
            or a.queueing_lock is null
            or a.attempts > 0
            or (
                a.id = (
                    select min(b.id)
                    from asked as b
                    where
                        b.queueing_lock = a.queueing_lock
                        and b.attempts = 0
                        and not b.abort_requested
                )
                and not exists (
                    select 1
                    from procrastinate_jobs as w
                    where
                        md5(w.queueing_lock) = md5(a.queueing_lock)
                        and w.queueing_lock = a.queueing_lock
                        and w.status = 'todo'
                        and w.attempts = 0
                )
            )
    )

    update procrastinate_jobs as j
    set
        status = case when j.abort_requested then 'aborted' else 'todo' end
        ::procrastinate_job_status,
        worker_id = case when j.abort_requested then j.worker_id end,
        started_at = case when j.abort_requested then j.started_at end,
        finished_at = case when j.abort_requested then v_now end,
        claim_token = null,
        abort_requested = false
    from releasable as r
    where j.id = r.id
    returning j.id;
end;
$$;

-- Rescue: jobs held by a worker that stopped heartbeating are taken back
-- automatically. Live workers call this on each heartbeat tick; no user code
-- and no periodic task is needed. SKIP LOCKED lets many workers call it at
-- once without waiting on each other. Every rule of the stall protocol is
-- here: the lease of each worker (its stalled_after, or the setting
-- stalled_worker_timeout), the rescue limit (setting max_rescues), and who
-- may rescue.

-- Takes back the jobs of workers silent for longer than their lease. A
-- rescued job goes back to todo (its run counted as an attempt) unless this
-- is its max_rescues-th rescue or its retry policy is exhausted (then it ends
-- failed), or its abort was requested (aborted). A job with no retry policy
-- is requeued too: a dead worker is not the job's failure.
-- The caller (p_worker_id) may rescue unless its own heartbeat had a gap
-- longer than its lease less than a lease ago: after an outage that silenced
-- every worker, the live ones get a lease to beat again before anyone takes
-- their jobs. A worker whose heartbeat never broke since it registered may
-- rescue at once (a worker started after a crash takes the dead's jobs). A
-- trusted
-- session (an operator, when no worker is alive) may call it with a null
-- p_worker_id. Dead workers holding no more jobs are removed. Returns the
-- rescued jobs.
create function procrastinate_rescue_stalled_jobs_v2(
    p_worker_id bigint,
    p_now timestamptz default null
)
returns table (job_id bigint, status procrastinate_job_status)
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_settings procrastinate_settings;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    select s.* into v_settings from procrastinate_settings as s;
    if p_worker_id is null then
        if not _procrastinate_trusted() then
            raise exception 'only the owner of the queue or an operator may rescue without a worker id'
                using errcode = '42501';
        end if;
    else
        perform _procrastinate_check_worker(p_worker_id);
        if not exists (
            select 1
            from procrastinate_workers as w
            where
                w.id = p_worker_id
                and (
                    coalesce(w.alive_since, w.started_at) <= w.started_at
                    or w.alive_since <= v_now - make_interval(
                        secs => coalesce(w.stalled_after, v_settings.stalled_worker_timeout)
                    )
                )
        ) then
            return;
        end if;
    end if;

    return query
    with silent as (
        select w.id
        from procrastinate_workers as w
        where w.last_heartbeat < v_now - make_interval(
            secs => coalesce(w.stalled_after, v_settings.stalled_worker_timeout)
        )
    ),

    -- held by a silent worker, or by one whose row is gone altogether
    stalled as (
        select j.id
        from procrastinate_jobs as j
        left join procrastinate_workers as w on j.worker_id = w.id
        where
            j.status = 'doing'
            and j.worker_id is not null
            and (w.id is null or w.id in (select s.id from silent as s))
        order by j.id
        for update of j skip locked
    ),

    rescued as (
        update procrastinate_jobs as j
        set
            status = case
                when j.abort_requested then 'aborted'
                when
                    j.rescue_count + 1 >= v_settings.max_rescues
                    or (j.max_attempts > 0 and j.attempts + 1 > j.max_attempts)
                    then 'failed'
                else 'todo'
            end::procrastinate_job_status,
            attempts = j.attempts + 1,
            rescue_count = j.rescue_count + 1,
            worker_id = null,
            claim_token = null,
            abort_requested = false,
            finished_at = case
                when j.abort_requested or j.rescue_count + 1 >= v_settings.max_rescues then v_now
                when j.max_attempts > 0 and j.attempts + 1 > j.max_attempts then v_now
            end,
            last_error = format(
                'worker %s stopped heartbeating while running this job (rescue %s of at most %s)',
                j.worker_id, j.rescue_count + 1, v_settings.max_rescues
            ),
            last_error_types = array['WorkerStalled']
        from stalled as s
        where j.id = s.id
        returning j.id, j.status
    ),

    removed as (
        delete from procrastinate_workers as w
        using silent as d
        where
            w.id = d.id
            and not exists (
                select 1
                from procrastinate_jobs as j
                where j.worker_id = w.id and j.status = 'doing'
                    and j.id not in (select r.id from rescued as r)
            )
        returning w.id
    )

    select r.id, r.status from rescued as r
    order by r.id;
end;
$$;

-- Records that a worker is alive. False when its row is gone (it was pruned
-- as dead): the worker must stop reporting under that id. A beat that comes
-- after a silence longer than the worker's lease restarts alive_since: the
-- worker may rescue others only a lease after that (65_rescue.sql).
create or replace function procrastinate_heartbeat_v1(
    p_worker_id bigint,
    p_now timestamptz default null
)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    perform _procrastinate_check_worker(p_worker_id);
    update procrastinate_workers as w
    set
        last_heartbeat = v_now,
        alive_since = case
            when w.last_heartbeat < v_now - make_interval(secs => coalesce(
                w.stalled_after,
                (select s.stalled_worker_timeout from procrastinate_settings as s)
            ))
                then v_now
            else coalesce(w.alive_since, w.started_at)
        end
    where w.id = p_worker_id;
    return found;
end;
$$;

-- Running jobs of a worker whose abort was requested: workers confirm an
-- abort notification here before acting on it.
create or replace function procrastinate_jobs_to_abort_v1(p_worker_id bigint)
returns setof bigint
language plpgsql
stable
security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
    perform _procrastinate_check_worker(p_worker_id);
    return query
    select j.id
    from procrastinate_jobs as j
    where
        j.worker_id = p_worker_id
        and j.status = 'doing'
        and j.abort_requested
    order by j.id;
end;
$$;

-- ---- ops views and actions


create or replace view procrastinate_worker_stats as
select
    w.id,
    w.name,
    w.host,
    w.pid,
    w.queues,
    w.concurrency,
    count(j.id) as running_jobs,
    w.started_at,
    w.last_heartbeat,
    w.last_heartbeat >= now() - make_interval(
        secs => coalesce(w.stalled_after, s.stalled_worker_timeout)
    ) as alive
from procrastinate_workers as w
cross join procrastinate_settings as s
left join procrastinate_jobs as j on j.worker_id = w.id and j.status = 'doing'
group by w.id, s.stalled_worker_timeout;

comment on view procrastinate_worker_stats is
'One row per registered worker: name, host, pid, queues (null: all), concurrency, jobs it
runs now, last heartbeat, and whether it is alive (heartbeat younger than its lease: the
stalled_after it registered with, else procrastinate_settings.stalled_worker_timeout, 30 s by
default). Dead workers'' jobs are rescued by the live ones.';

create or replace view procrastinate_stalled_jobs as
select
    j.id,
    j.queue_name,
    j.task_name,
    j.worker_id,
    w.name as worker_name,
    w.host as worker_host,
    w.last_heartbeat,
    j.started_at,
    j.attempts,
    j.rescue_count
from procrastinate_jobs as j
cross join procrastinate_settings as s
left join procrastinate_workers as w on j.worker_id = w.id
where
    j.status = 'doing'
    and (
        w.id is null
        or w.last_heartbeat < now() - make_interval(
            secs => coalesce(w.stalled_after, s.stalled_worker_timeout)
        )
    );

comment on view procrastinate_stalled_jobs is
'Running jobs whose worker is gone or silent for longer than its lease (see
procrastinate_worker_stats). Live workers rescue them on their next heartbeat; jobs
with no worker_id (fetched anonymously) are listed but never rescued automatically.';

drop function procrastinate_cancel_jobs(text, text);

-- Cancels every waiting job of a queue and/or task.
create function procrastinate_cancel_jobs(
    queue_name text,
    task_name text,
    p_now timestamptz default null
)
returns integer
language plpgsql
-- an operator role has no right on the tables
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_count integer;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if queue_name is null and task_name is null then
        raise exception 'name a queue_name or a task_name (or both): refusing to cancel every job'
            using errcode = 'PT001';
    end if;
    update procrastinate_jobs as j
    set status = 'cancelled', finished_at = v_now
    where
        j.status = 'todo'
        and (procrastinate_cancel_jobs.queue_name is null
            or j.queue_name = procrastinate_cancel_jobs.queue_name)
        and (procrastinate_cancel_jobs.task_name is null
            or j.task_name = procrastinate_cancel_jobs.task_name);
    get diagnostics v_count = row_count;
    return v_count;
end;
$$;

comment on function procrastinate_cancel_jobs(text, text, timestamptz) is
'Cancel every waiting (todo) job of queue_name and/or task_name; null matches any, but not
both. Running jobs are left alone (abort them one by one with procrastinate_cancel_job).
Returns how many were cancelled.';

-- Stops workers from fetching a queue; running jobs finish.
create function procrastinate_pause_queue_v1(
    p_queue_name text,
    p_now timestamptz default null
)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
    if p_queue_name is null or p_queue_name = '' then
        raise exception 'queue_name must be a non-empty string' using errcode = 'PT001';
    end if;
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    insert into procrastinate_paused_queues (queue_name, paused_at)
    values (p_queue_name, coalesce(p_now, now()))
    on conflict do nothing;
    return found;
end;
$$;

-- Lets workers fetch a paused queue again, waking them at once.
create function procrastinate_resume_queue_v1(p_queue_name text)
returns boolean
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
    delete from procrastinate_paused_queues as p
    where p.queue_name = p_queue_name;
    if not found then
        return false;
    end if;
    perform _procrastinate_notify('job_available', 'queues', jsonb_build_array(p_queue_name));
    return true;
end;
$$;

-- Deletes finished jobs older than max_hours, at most max_jobs of them.
create function procrastinate_remove_old_jobs_v1(
    max_hours double precision,
    queue_name text default null,
    statuses text[] default array['succeeded'],
    max_jobs integer default null,
    p_now timestamptz default null
)
returns integer
language plpgsql
security definer
set search_path = pg_catalog, public, pg_temp
-- a delete of many old jobs is estimated costly enough for JIT, whose
-- compilation would cost more than the delete of a bounded batch
set jit = off
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_count integer;
    v_bad text;
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    if max_hours is null or max_hours < 0 then
        raise exception 'max_hours must be zero or more, got %', max_hours
            using errcode = 'PT001';
    end if;
    if max_jobs < 0 then
        raise exception 'max_jobs must be zero or more (null: no limit), got %', max_jobs
            using errcode = 'PT001';
    end if;
    select s into v_bad
    from unnest(statuses) as s
    where s not in ('succeeded', 'failed', 'cancelled', 'aborted')
    limit 1;
    if v_bad is not null then
        raise exception 'statuses: cannot remove jobs of status %: only succeeded, failed, cancelled or aborted',
            v_bad
            using errcode = 'PT001';
    end if;

    -- The ids are picked once (a materialized CTE): in a semi-join the
    -- subquery could be rescanned and its limit would then bound nothing.
    with old as materialized (
        select o.id
        from procrastinate_jobs as o
        where
            o.status::text = any(statuses)
            and (procrastinate_remove_old_jobs_v1.queue_name is null
                or o.queue_name = procrastinate_remove_old_jobs_v1.queue_name)
            and coalesce(o.finished_at, o.created_at)
            < v_now - make_interval(secs => max_hours * 3600)
        order by o.id
        limit max_jobs
        for update skip locked
    )

    delete from procrastinate_jobs as j
    using old
    where j.id = old.id;
    get diagnostics v_count = row_count;
    return v_count;
end;
$$;

-- Bulk actions for the person on call, and retention. User-facing; the ones
-- the Python driver calls are one-line wrappers over their _v1.

-- Puts every failed job of a queue and/or task back in the queue.
create or replace function procrastinate_retry_failed_jobs(
    queue_name text default null,
    task_name text default null
)
returns integer
language plpgsql
-- an operator role has no right on the tables
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_count integer;
begin
    update procrastinate_jobs as j
    set status = 'todo', scheduled_at = null, finished_at = null, worker_id = null
    where
        j.status = 'failed'
        and (procrastinate_retry_failed_jobs.queue_name is null
            or j.queue_name = procrastinate_retry_failed_jobs.queue_name)
        and (procrastinate_retry_failed_jobs.task_name is null
            or j.task_name = procrastinate_retry_failed_jobs.task_name);
    get diagnostics v_count = row_count;
    return v_count;
end;
$$;

comment on function procrastinate_retry_failed_jobs(text, text) is
'Put all failed jobs of queue_name and/or task_name (null: any) back in todo, to run now.
Returns how many. Example: select procrastinate_retry_failed_jobs(task_name => ''send_mail'');';

create or replace function procrastinate_pause_queue(queue_name text)
returns boolean
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    select procrastinate_pause_queue_v1(queue_name);
$$;

comment on function procrastinate_pause_queue(text) is
'Pause a queue: workers stop fetching its jobs; running jobs finish; deferring still works.
Returns false if it was already paused. Undo with procrastinate_resume_queue.';

create or replace function procrastinate_resume_queue(queue_name text)
returns boolean
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    select procrastinate_resume_queue_v1(queue_name);
$$;

comment on function procrastinate_resume_queue(text) is
'Resume a paused queue and wake listening workers at once. Returns false if it was not
paused.';

create or replace function procrastinate_remove_old_jobs(
    max_hours double precision,
    queue_name text default null,
    statuses text[] default array['succeeded'],
    max_jobs integer default null
)
returns integer
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    select procrastinate_remove_old_jobs_v1(max_hours, queue_name, statuses, max_jobs);
$$;

comment on function procrastinate_remove_old_jobs(double precision, text, text[], integer) is
'Delete jobs finished more than max_hours ago, of queue_name (null: all) and statuses (default
succeeded only; also failed, cancelled, aborted), with their events. max_jobs bounds one call
(null: all): call it repeatedly, each call in its own transaction, to clean a big table
without long locks. Returns how many were deleted.';

-- ---- the superseded driver functions, for workers still running the old
-- code until post migration 0020: wrappers over the new versions (security
-- definer, so that a role granted the old name keeps working). Their p_now
-- defaulted to now(), which is the transaction's time: read as "not pinned".

create or replace function procrastinate_defer_jobs_v1(p_jobs jsonb)
returns table (id bigint)
language sql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
    select d.id from procrastinate_defer_jobs_v2(p_jobs) as d;
$$;

create or replace function procrastinate_fetch_jobs_v1(
    p_worker_id bigint,
    p_queues text[],
    p_limit integer,
    p_now timestamptz default now()
)
returns table (
    id bigint,
    queue_name text,
    task_name text,
    priority integer,
    lock text,
    queueing_lock text,
    args jsonb,
    status procrastinate_job_status,
    scheduled_at timestamptz,
    attempts integer,
    abort_requested boolean,
    worker_id bigint
)
language sql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
    select f.*
    from procrastinate_fetch_jobs_v2(
        p_worker_id, p_queues, p_limit, null, false, nullif(p_now, now())
    ) as f;
$$;

create or replace function procrastinate_register_worker_v1(
    p_name text,
    p_queues text[],
    p_concurrency integer,
    p_host text,
    p_pid integer,
    p_now timestamptz default now()
)
returns bigint
language sql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
    select procrastinate_register_worker_v2(
        p_name, p_queues, p_concurrency, p_host, p_pid, null, nullif(p_now, now())
    );
$$;

create or replace function procrastinate_unregister_worker_v1(p_worker_id bigint)
returns integer
language sql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
    select procrastinate_unregister_worker_v2(p_worker_id);
$$;

create or replace function procrastinate_release_jobs_v1(p_worker_id bigint, p_job_ids bigint[])
returns setof bigint
language sql
security definer
set search_path = pg_catalog, public, pg_temp
as $$
    select r.id from procrastinate_release_jobs_v2(p_worker_id, p_job_ids) as r (id);
$$;

-- Old workers gate and size their rescues themselves: same body, pinned path
-- (in a do block: sqlfluff cannot parse a list after alter function ... set).
do $$
begin
    alter function procrastinate_rescue_stalled_jobs_v1(double precision, integer, timestamptz)
    set search_path = pg_catalog, public, pg_temp;
end;
$$;

-- ---- the internal helpers under their old names: nothing calls them now

drop function procrastinate_validate_jobs_v1(jsonb);
drop function procrastinate_insert_jobs_v1(jsonb);
drop function procrastinate_apply_outcomes_v1(bigint, jsonb, text, timestamptz);
drop function procrastinate_record_insert_events_v1();
drop function procrastinate_record_update_events_v1();
drop function procrastinate_delete_events_v1();
drop function procrastinate_notify_inserted_jobs_v1();
drop function procrastinate_notify_updated_jobs_v1();
drop function procrastinate_notify_v1(text, text, jsonb);
drop function procrastinate_stalled_worker_timeout_v1();

-- ---- least privilege: where sql/optional/roles.sql is in use, nothing new
-- is callable by PUBLIC; run roles.sql again to grant the new functions
-- (docs/deploy.md). The old names keep their grants meanwhile.
do $$
declare
    v_function regprocedure;
begin
    if to_regrole('procrastinate_producer') is null then
        return;
    end if;
    for v_function in
        select p.oid::regprocedure
        from pg_proc as p
        where
            (p.proname like 'procrastinate\_%' or p.proname like '\_procrastinate\_%')
            and p.pronamespace = 'public'::regnamespace
    loop
        execute format('revoke execute on function %s from public', v_function);
    end loop;
    raise warning 'procrastinate: run sql/optional/roles.sql again to grant the new functions';
end;
$$;
