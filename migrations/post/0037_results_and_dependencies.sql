-- Stored results and dependencies (issue 17).
-- Results: a job deferred with store_result keeps what its run returned
-- (jsonb, up to procrastinate_settings.max_result_bytes; result_error says
-- why one is missing), a failure keeps its traceback beside its message and
-- types, and the end of such a job is announced ('job_finished' on the
-- 'procrastinate' channel) to whoever waits for it; procrastinate_job_result
-- and procrastinate_job_results_v1 read them.
-- Dependencies: a job deferred "after" others (job objects' after and
-- after_policy, procrastinate_defer_job's) waits, scheduled far ahead, until
-- they ended; their end releases or cancels it (57_dependencies.sql).
-- New columns on procrastinate_jobs (store_result, result, result_error,
-- last_error_traceback, parents, after_policy, has_dependents) and
-- procrastinate_settings (max_result_bytes); a new table
-- procrastinate_job_dependencies; procrastinate_fetch_jobs_v3 tells the
-- worker which jobs store their result and which they were deferred after
-- (procrastinate_fetch_jobs_v2 stays, for the workers of the previous
-- release, as the same claim without those columns).
-- procrastinate_defer_job and procrastinate_finish_job gain parameters:
-- dropped and created again (every call that worked still works), with their
-- grants where sql/optional/roles.sql is in use.
-- A post migration: the previous release's workers keep working throughout
-- (v2 stays), and a pre after the post migrations would block the
-- procrastinate 3.x conversion.
-- Adding a column with a constant default, or none, only changes the
-- catalog (PostgreSQL 11+), as does creating a trigger: the lock on each
-- table is brief, the timeouts bound the wait for it should anything hold it.
-- The drops are of functions no table or view depends on, in the same
-- transaction as their new definitions: callers see one or the other. The
-- check constraint is validated at once: procrastinate_settings has one row.
-- squawk-ignore-file ban-drop-function, constraint-missing-not-valid
set local lock_timeout = '10s';
set local statement_timeout = '30s';

alter table procrastinate_jobs add column store_result boolean not null default false;
alter table procrastinate_jobs add column result jsonb;
alter table procrastinate_jobs add column result_error text;
alter table procrastinate_jobs add column last_error_traceback text;
alter table procrastinate_jobs add column parents bigint[];
alter table procrastinate_jobs add column after_policy text;
alter table procrastinate_jobs add column has_dependents boolean not null default false;

alter table procrastinate_settings
add column max_result_bytes bigint not null default 1048576;
alter table procrastinate_settings
add constraint procrastinate_settings_max_result_bytes check (
    max_result_bytes between 1 and 268435456
);

-- The jobs a job waits for, one row per (parent, dependent) while the parent
-- has not ended: the parent's end takes its rows away (57_dependencies.sql).
create table procrastinate_job_dependencies (
    parent_id bigint not null,
    job_id bigint not null,
    primary key (parent_id, job_id)
);

-- Whether a dependent job still waits for a parent (a new, empty table).
create index procrastinate_job_dependencies_job_id_idx_v1
on procrastinate_job_dependencies (job_id);

comment on table procrastinate_settings is
'Limits and defaults of the queue (one row): max_args_bytes and max_args_depth bound the args
of a deferred job; stalled_worker_timeout (seconds) is the lease of workers that register
without their own; max_rescues bounds how often one job is rescued; max_result_bytes bounds
a stored result. Only the schema owner
may change them (update procrastinate_settings set ...); the checks are hard caps.';

create or replace view procrastinate_job_transitions as
select
    t.from_status,
    t.to_status,
    t.function_name,
    t.attempts
from (
    values
    ('(new)', 'todo', '_procrastinate_insert_jobs', 'set to 0'),
    ('todo', 'doing', 'procrastinate_fetch_jobs_v3', 'kept'),
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
    -- for procrastinate_rescue_stalled_jobs_v2 and procrastinate_reconcile_held_jobs_v1
    ('doing', 'todo', '_procrastinate_take_back_jobs', '+1, rescue_count +1'),
    ('doing', 'failed', '_procrastinate_take_back_jobs', '+1 (rescue or attempt limit)'),
    ('doing', 'aborted', '_procrastinate_take_back_jobs', '+1 (abort was pending)'),
    ('failed', 'todo', 'procrastinate_retry_job_v1', 'kept'),
    ('failed', 'todo', 'procrastinate_retry_failed_jobs', 'kept'),
    ('succeeded', '(deleted)', 'procrastinate_remove_old_jobs_v1', '-'),
    ('failed', '(deleted)', 'procrastinate_remove_old_jobs_v1', '-'),
    ('cancelled', '(deleted)', 'procrastinate_remove_old_jobs_v1', '-'),
    ('aborted', '(deleted)', 'procrastinate_remove_old_jobs_v1', '-'),
    -- jobs deferred after others (57_dependencies.sql)
    ('todo', 'todo', '_procrastinate_parents_ended', 'kept (released: its parents ended)'),
    ('todo', 'cancelled', '_procrastinate_parents_ended', 'kept (a parent did not succeed)'),
    ('todo', 'todo', '_procrastinate_link_parents', 'kept (marked a parent; any status)'),
    ('doing', 'doing', '_procrastinate_link_parents', 'kept (marked a parent; any status)')
) as t (from_status, to_status, function_name, attempts);

-- Results: what a job deferred with store_result returned, or how it ended,
-- for whoever waits for it (JobManager.wait_for_job in Python, any SQL
-- client). The end of such a job is announced on the 'procrastinate' channel
-- as {"type": "job_finished", "job_ids": [...]} (80_notify.sql; a null list
-- when the ids do not fit). To wait without missing the end: LISTEN first,
-- then read the job, then read it again on each notification that names it
-- or names none, and now and then in case the connection dropped meanwhile.

-- How each of p_job_ids stands, one row per job that exists and that the
-- session may see (a producer sees the jobs its login role deferred), by id.
-- A job not ended yet has status todo or doing and no result.
create function procrastinate_job_results_v1(p_job_ids bigint[])
returns table (
    job_id bigint,
    status procrastinate_job_status,
    attempts integer,
    finished_at timestamptz,
    store_result boolean,
    result jsonb,
    result_error text,
    error_message text,
    error_types text[],
    error_traceback text
)
language plpgsql
stable
-- Producers may read the end of their jobs without reading the jobs table.
security definer
set search_path = pg_catalog, public, pg_temp
-- thousands of ids are thousands of primary key probes: never worth a JIT
set jit = off
as $$
declare
    v_sees_all boolean := _procrastinate_sees_all_jobs();
begin
    if p_job_ids is null then
        raise exception 'p_job_ids must not be null' using errcode = 'PT001';
    end if;
    return query
    select
        j.id, j.status, j.attempts, j.finished_at, j.store_result, j.result,
        j.result_error, j.last_error, j.last_error_types, j.last_error_traceback
    from procrastinate_jobs as j
    where j.id = any(p_job_ids) and (v_sees_all or j.deferred_by = session_user)
    order by j.id;
end;
$$;

-- User-facing: the end of one job, for psql and other languages.
create function procrastinate_job_result(job_id bigint)
returns table (
    status procrastinate_job_status,
    result jsonb,
    result_error text,
    error_message text,
    error_types text[],
    error_traceback text,
    finished_at timestamptz
)
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
as $$
begin
    if job_id is null then
        raise exception 'job_id must not be null' using errcode = 'PT001';
    end if;
    return query
    select r.status, r.result, r.result_error, r.error_message, r.error_types,
        r.error_traceback, r.finished_at
    from procrastinate_job_results_v1(array[job_id]) as r;
    if not found then
        raise exception 'job % does not exist', job_id using errcode = 'PT003';
    end if;
end;
$$;

comment on function procrastinate_job_result(bigint) is
'How a job ended: its status (todo or doing: not yet), the result it returned when deferred
with store_result (result_error says why a result is missing: over
procrastinate_settings.max_result_bytes, not JSON), and for a failure the error message,
exception class names and traceback. Unknown job: SQLSTATE PT003 (a producer role sees only
the jobs its login role deferred). To wait for a job deferred with store_result:
  LISTEN procrastinate; then call this function, and again on every notification whose
  payload is {"type": "job_finished", "job_ids": [...]} naming the job (or with job_ids
  null), until the status is succeeded, failed, cancelled or aborted.';

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

-- After a delete: parents deleted before they ended release or cancel their
-- dependents (after_policy); parents that had ended have no rows left.
create function _procrastinate_release_dependents_of_deleted()
returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_parents bigint[];
begin
    select array_agg(o.id) into v_parents from old_jobs as o where o.has_dependents;
    if v_parents is not null then
        perform _procrastinate_parents_ended(v_parents);
    end if;
    return null;
end;
$$;

create trigger procrastinate_jobs_delete_dependents_v1
after delete on procrastinate_jobs
referencing old table as old_jobs
for each statement
execute function _procrastinate_release_dependents_of_deleted();

-- The first job object of p_jobs with a problem of shape or type (any key but
-- the retry policy), or whose args are over the limits of
-- procrastinate_settings (size in bytes, depth of nesting).
create or replace function _procrastinate_job_problem(p_jobs jsonb)
returns table (ord bigint, message text)
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_known_keys text[] := array[
        'task_name', 'args', 'queue_name', 'priority', 'lock', 'queueing_lock',
        'scheduled_at', 'scheduled_in', 'max_attempts', 'max_runs', 'retry_wait',
        'retry_linear_wait', 'retry_exponential_wait', 'retry_exceptions', 'store_result',
        'after', 'after_policy'
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
            when jsonb_typeof(t.job -> 'store_result') not in ('boolean', 'null')
                then 'has a store_result that is not a boolean'
            when jsonb_typeof(t.job -> 'after') not in ('array', 'null')
                or exists (
                    select 1 from jsonb_array_elements(
                        case jsonb_typeof(t.job -> 'after') when 'array' then t.job -> 'after' end
                    ) as a (id)
                    where jsonb_typeof(a.id) <> 'number' or a.id::text !~ '^[0-9]{1,18}$'
                )
                then 'has an after that is not an array of job ids'
            when jsonb_array_length(
                case jsonb_typeof(t.job -> 'after') when 'array' then t.job -> 'after' end
            ) > 10000
                then 'has an after of more than 10000 jobs'
            when jsonb_typeof(t.job -> 'after_policy') not in ('string', 'null')
                or t.job ->> 'after_policy' not in ('succeeded', 'always')
                then 'has an after_policy that is neither succeeded nor always'
            when jsonb_array_length(
                case jsonb_typeof(t.job -> 'after') when 'array' then t.job -> 'after' end
            ) > 0
                and (t.job -> 'scheduled_at' <> 'null' or t.job -> 'scheduled_in' <> 'null')
                then 'has both after and a schedule: a job deferred after others runs '
                    || 'once they ended'
        end as message
    ) as p
    where p.message is not null
    order by t.ord
    limit 1;
end;
$$;

-- Inserts a JSON array of already validated job objects at p_now and returns
-- their ids in input order. Called by procrastinate_defer_jobs_v2 only.
-- PL/pgSQL rather than SQL: PL/pgSQL keeps its plans, a SQL function plans
-- every call.
create or replace function _procrastinate_insert_jobs(p_jobs jsonb, p_now timestamptz)
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
            retry_exponential_wait, retry_exceptions, created_at, deferred_by, store_result,
            parents, after_policy
        )
        select
            input.new_id,
            coalesce(input.job ->> 'queue_name', 'default'),
            input.job ->> 'task_name',
            coalesce((input.job ->> 'priority')::integer, 0),
            input.job ->> 'lock',
            input.job ->> 'queueing_lock',
            coalesce(nullif(input.job -> 'args', 'null'::jsonb), '{}'::jsonb),
            case
                -- waits for its parents (57_dependencies.sql)
                when jsonb_array_length(
                    case jsonb_typeof(input.job -> 'after') when 'array' then input.job -> 'after' end
                ) > 0
                    then _procrastinate_held_until()
                else coalesce(
                    (input.job ->> 'scheduled_at')::timestamptz,
                    -- relative times are added to the database's clock, not the caller's
                    p_now + make_interval(secs => (input.job ->> 'scheduled_in')::double precision)
                )
            end,
            -- max_runs counts every run (River, Oban, graphile-worker),
            -- max_attempts the retries after the first (procrastinate): n runs
            -- are n - 1 retries, 0 is no limit either way
            case
                when input.job ->> 'max_runs' is null
                    then (input.job ->> 'max_attempts')::integer
                when (input.job ->> 'max_runs')::integer > 1
                    then (input.job ->> 'max_runs')::integer - 1
                -- 0 (no limit), or 1 with the never-matching exception list below
                else (input.job ->> 'max_runs')::integer
            end,
            coalesce((input.job ->> 'retry_wait')::double precision, 0),
            coalesce((input.job ->> 'retry_linear_wait')::double precision, 0),
            coalesce((input.job ->> 'retry_exponential_wait')::double precision, 0),
            case
                -- one run: a policy of its own that no failure matches, so
                -- that no policy a worker knows for the task applies either
                when (input.job ->> 'max_runs')::integer = 1
                    then array['(max_runs 1: never retried)']
                -- an empty list means any exception, as in procrastinate
                when jsonb_typeof(input.job -> 'retry_exceptions') = 'array'
                    then nullif(array(
                        select jsonb_array_elements_text(input.job -> 'retry_exceptions')
                    ), '{}')
            end,
            p_now,
            session_user,
            coalesce((input.job ->> 'store_result')::boolean, false),
            case when jsonb_array_length(
                    case jsonb_typeof(input.job -> 'after') when 'array' then input.job -> 'after' end
                ) > 0 then array(
                select jsonb_array_elements_text(input.job -> 'after')::bigint
            ) end,
            case when jsonb_array_length(
                    case jsonb_typeof(input.job -> 'after') when 'array' then input.job -> 'after' end
                ) > 0
                then coalesce(input.job ->> 'after_policy', 'succeeded')
            end
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
create or replace function procrastinate_defer_jobs_v2(p_jobs jsonb, p_now timestamptz default null)
returns table (id bigint)
language plpgsql
-- Lets a producer role that may only execute the defer functions insert jobs
-- (see sql/optional/roles.sql); the pinned search_path keeps it safe.
security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
    v_now timestamptz := coalesce(p_now, now());
    v_ids bigint[];
begin
    -- only a trusted session may pin the clock (15_access.sql)
    if p_now is not null then
        perform _procrastinate_check_clock();
    end if;
    perform _procrastinate_validate_jobs(p_jobs);

    -- An exception block costs a subtransaction on every call: enter one only
    -- when there is an error to translate, a scheduled_at text to parse, a
    -- queueing lock that a concurrent defer may take first, or parents to
    -- link (57_dependencies.sql).
    if not jsonb_path_exists(
        p_jobs,
        (
            'lax $[*] ? (@.scheduled_at.type() == "string" || @.queueing_lock.type() == "string"'
            || ' || @.after.type() == "array")'
        )::jsonpath
    ) then
        return query select i.id from _procrastinate_insert_jobs(p_jobs, v_now) as i;
        return;
    end if;

    begin
        v_ids := array(select i.id from _procrastinate_insert_jobs(p_jobs, v_now) as i);
        if jsonb_path_exists(p_jobs, 'lax $[*].after[*]') then
            perform _procrastinate_link_parents(v_ids);
        end if;
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
    return query select u.id from unnest(v_ids) with ordinality as u (id, ord) order by u.ord;
end;
$$;

drop function procrastinate_defer_job(
    text, jsonb, text, integer, text, text, timestamptz, integer,
    double precision, double precision, double precision, text[], integer
);

-- User-facing single defer, for psql, triggers and other languages.
create function procrastinate_defer_job(
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
    retry_exceptions text[] default null,
    max_runs integer default null,
    store_result boolean default false,
    after bigint[] default null,
    after_policy text default null
)
returns bigint
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
    -- built apart from the call: an error's CONTEXT quotes the statement
    -- that called procrastinate_defer_jobs_v2, and this keeps it one line
    v_jobs jsonb := jsonb_build_array(jsonb_build_object(
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
        'retry_exceptions', to_jsonb(retry_exceptions),
        'max_runs', max_runs,
        'store_result', store_result,
        'after', to_jsonb(after),
        'after_policy', after_policy
    ));
begin
    return (select d.id from procrastinate_defer_jobs_v2(v_jobs) as d);
end;
$$;

comment on function procrastinate_defer_job(
    text, jsonb, text, integer, text, text, timestamptz, integer,
    double precision, double precision, double precision, text[], integer, boolean, bigint[], text
) is
'Defer one job and return its id. Only task_name is required:
  select procrastinate_defer_job(''sum_task'', ''{"a": 3, "b": 5}'');
  select procrastinate_defer_job(task_name => ''mail'', queue_name => ''emails'', priority => 5);
args: JSON object of keyword arguments. priority: higher runs first. lock: jobs sharing a lock
run one at a time, in priority then id order. queueing_lock: at most one waiting job per value
(SQLSTATE PT002 otherwise). scheduled_at: not before this time. Retries: max_attempts null
never retries (unless the worker knows a policy for the task), 0 retries without limit, n
retries while fewer than n attempts ended (n + 1 runs, procrastinate''s meaning); or max_runs,
the runs in all (River''s, Oban''s, graphile-worker''s meaning): 1 runs once whatever the task''s
policy, n runs at most n times, 0 without limit; not both. The delay is retry_wait +
retry_linear_wait * attempts + retry_exponential_wait ^ (attempts + 1) seconds;
retry_exceptions limits retries to failures of these class names. store_result: keep what
the task returns (read it with procrastinate_job_result; the job is then kept when it ends,
until retention removes it). after: ids of jobs this one waits for; it runs once they all
succeeded, and is cancelled as soon as one ends otherwise (after_policy ''always'': it runs
whatever they became). Bad input, or an after naming a job that does not exist: SQLSTATE
PT001.';

-- Claims up to p_limit jobs for p_worker_id from p_queues (null: all queues),
-- highest priority first, then oldest, under the claim token p_claim_token.
-- A call retried because its answer was lost (p_resume true, same token)
-- first gets back the jobs the lost call claimed, and claims new ones only
-- up to p_limit with them. Called by the Python worker; store_result tells
-- it whether to send what the task returns (40_finish.sql), parents which
-- jobs the job was deferred after (their results: 56_results.sql).
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
--     up lock by lock instead (one probe per lock with waiting jobs);
--   scheduled: scheduled_at set (procrastinate_jobs_scheduled_idx_v1 and its
--     per-queue twin), walked from the earliest due, within a window: jobs
--     scheduled for later are never read. When more jobs are due than the
--     window holds, those due first are considered first.
-- A queue filter, or paused queues, walk each served queue's own index (a
-- LATERAL per queue) and merge the walks. The candidates, a few more than
-- p_limit in case concurrent claims take some, are then checked again,
-- locked (SKIP LOCKED) and claimed in one statement.
create function procrastinate_fetch_jobs_v3(
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
    worker_id bigint,
    store_result boolean,
    parents bigint[]
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
    v_heads bigint[] := '{}'::bigint[];
    -- check again that the lock of each candidate is free (see the end)
    v_recheck_locks boolean := false;
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
    -- a sign of life: renews the worker's lease (58_leases.sql)
    perform _procrastinate_renew_lease(p_worker_id, v_now, true);

    if p_resume and p_claim_token is not null then
        return query
        select
            j.id, j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock,
            j.args, j.status, j.scheduled_at, j.attempts, j.abort_requested,
            j.worker_id, j.store_result, j.parents
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

        -- a locked job is claimable at the head of its lock only, while no
        -- job of the lock runs. The window is the start of the walk of every
        -- waiting job not scheduled: the first row of each lock in it has
        -- no such job ranked before it, only perhaps a scheduled one (one
        -- probe of procrastinate_jobs_scheduled_lock_order_idx_v1, usually
        -- its root page). Whether the lock runs is one probe of
        -- procrastinate_jobs_lock_idx_v1 (a scalar subquery: the planner
        -- would turn a NOT EXISTS into a join that reads every running job
        -- for each row). The probes go in claim order (offset 0 keeps them
        -- above the sort) and stop once enough heads are found.
        v_locked := array(
            select h.id
            from (
                select w.id, w.lock, w.priority
                from (
                    select
                        j.id, j.lock, j.priority,
                        row_number() over (
                            partition by j.lock order by j.priority desc, j.id asc
                        ) as rank_in_lock
                    from (
                        select j.id, j.lock, j.priority
                        from procrastinate_jobs as j
                        where j.status = 'todo' and j.scheduled_at is null and j.lock is not null
                        order by j.priority desc, j.id asc
                        limit v_window
                    ) as j
                ) as w
                where w.rank_in_lock = 1
                order by w.priority desc, w.id asc
                offset 0
            ) as h
            where
                (
                    select o.id from procrastinate_jobs as o
                    where md5(o.lock) = md5(h.lock) and o.lock = h.lock and o.status = 'doing'
                    limit 1
                ) is null
                and not coalesce((
                    select o.priority > h.priority or (o.priority = h.priority and o.id < h.id)
                    from procrastinate_jobs as o
                    where
                        md5(o.lock) = md5(h.lock) and o.lock = h.lock
                        and o.status = 'todo' and o.scheduled_at is not null
                    order by o.priority desc, o.id asc
                    limit 1
                ), false)
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
                            and o.status = 'todo'
                        order by o.priority desc, o.id asc
                        limit 1
                    ) = w.id
                    and (
                        select o.id from procrastinate_jobs as o
                        where md5(o.lock) = md5(w.lock) and o.lock = w.lock and o.status = 'doing'
                        limit 1
                    ) is null
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
                select
                    j.id, j.lock, j.priority, j.queue_name,
                    lag(j.lock) over (order by j.priority desc, j.id asc) as previous_lock
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
                and w.lock is distinct from w.previous_lock
                and (
                    select o.id from procrastinate_jobs as o
                    where
                        md5(o.lock) = md5(w.lock) and o.lock = w.lock
                        and o.status = 'todo'
                    order by o.priority desc, o.id asc
                    limit 1
                ) = w.id
                and (
                    select o.id from procrastinate_jobs as o
                    where md5(o.lock) = md5(w.lock) and o.lock = w.lock and o.status = 'doing'
                    limit 1
                ) is null
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
                                and o.status = 'todo'
                            order by o.priority desc, o.id asc
                            limit 1
                        ) = w.id
                        and (
                            select o.id from procrastinate_jobs as o
                            where md5(o.lock) = md5(w.lock) and o.lock = w.lock and o.status = 'doing'
                            limit 1
                        ) is null
                    )
                )
            limit v_wanted
        );
    end if;

    -- Too few heads in the windows, and more locked jobs than the windows
    -- hold: look at the head of each lock with waiting jobs instead, skipping
    -- from one lock to the next in procrastinate_jobs_lock_order_idx_v2.
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
                    where j.status = 'todo' and j.lock is not null
                    order by md5(j.lock) limit 1
                )
                union all
                select (
                    select md5(j.lock) from procrastinate_jobs as j
                    where
                        j.status = 'todo' and j.lock is not null
                        and md5(j.lock) > l.k
                    order by md5(j.lock) limit 1
                )
                from live_lock as l where l.k is not null
            )

            select h.id
            from live_lock as l
            cross join lateral (
                select j.id, j.priority, j.lock, j.scheduled_at, j.queue_name
                from procrastinate_jobs as j
                where md5(j.lock) = l.k and j.status = 'todo' and j.lock is not null
                order by j.priority desc, j.id asc
                limit 1
            ) as h
            where
                l.k is not null
                and (h.scheduled_at is null or h.scheduled_at <= v_now)
                and (
                    select o.id from procrastinate_jobs as o
                    where md5(o.lock) = l.k and o.lock = h.lock and o.status = 'doing'
                    limit 1
                ) is null
                and (p_queues is null or h.queue_name = any(p_queues))
                and h.queue_name <> all(v_paused)
            order by h.priority desc, h.id asc
            limit v_wanted
        );
    end if;

    -- The walks took heads of free locks only. Another claim can take one of
    -- those locks before this statement only by claiming a job of the lock
    -- ranked before our head, which a defer or an operator's retry made
    -- meanwhile (it could as well have come a moment later): the claim then
    -- fails on procrastinate_jobs_lock_idx_v1 (no two running jobs of a
    -- lock), and is made again checking each lock (one probe of that index
    -- per candidate with a lock: a fifth of the cost of a claim of locked
    -- jobs, not paid when no claim races). The sort below consumes the whole
    -- update before a row is returned: a failed claim returned nothing.
    loop
        begin
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
                    -- checked again only after a race (see above the loop)
                    and (
                        j.lock is null
                        or not v_recheck_locks
                        or not exists (
                            select 1
                            from procrastinate_jobs as other
                            where
                                md5(other.lock) = md5(j.lock)
                                and other.lock = j.lock
                                and other.status = 'doing'
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
                    j.worker_id, j.store_result, j.parents
            )

            select c.*
            from claimed as c
            order by c.priority desc, c.id asc;
            exit;
        exception when unique_violation then
            if v_recheck_locks then
                raise;
            end if;
            v_recheck_locks := true;
        end;
    end loop;
end;
$$;

-- The claim of drivers older than stored results (procrastinate_fetch_jobs_v3
-- without its last column): workers of the previous release keep working
-- while the schema is upgraded under them.
create or replace function procrastinate_fetch_jobs_v2(
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
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    select
        f.id, f.queue_name, f.task_name, f.priority, f.lock, f.queueing_lock, f.args,
        f.status, f.scheduled_at, f.attempts, f.abort_requested, f.worker_id
    from procrastinate_fetch_jobs_v3(
        p_worker_id, p_queues, p_limit, p_claim_token, p_resume, p_now
    ) as f;
$$;

-- Applies outcomes already validated by procrastinate_finish_jobs_v1: the
-- fenced update, the retry decision and the deletes, one result row per
-- outcome. A failure, or a run interrupted by its worker's shutdown, goes
-- back to todo when the explicit decision or the retry policy says so.
-- A job deferred with store_result keeps what its run returned (the
-- outcome's result, up to procrastinate_settings.max_result_bytes, else
-- result_error says why), is never deleted here (its waiters read it), and
-- every run overwrites the result of the run before: a failed run leaves none.
-- Nor is a job other jobs were deferred after (its end releases them).
-- Called by procrastinate_finish_jobs_v1 only.
create or replace function _procrastinate_apply_outcomes(
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
-- The jobs reported are looked up by id, whatever the statistics say: a
-- table analyzed while nearly empty, then filled (autoanalyze lags behind a
-- queue), would otherwise get a bitmap or a sequential scan. Those settings
-- make any sequential scan look dear: no estimate may turn JIT on.
set enable_bitmapscan = off
set enable_seqscan = off
set jit = off
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
            t.o -> 'error' ->> 'traceback' as error_traceback,
            t.o -> 'result' as result,
            t.o ->> 'result_error' as result_error,
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
            o.error_traceback,
            j.store_result,
            j.has_dependents,
            case
                when not j.store_result or o.status <> 'succeeded' then null
                when o.result_error is not null then o.result_error
                when pg_column_size(o.result) > (
                    select s.max_result_bytes from procrastinate_settings as s where s.singleton
                )
                    then format(
                        'the result (%s bytes) is over the limit of %s bytes '
                        '(procrastinate_settings.max_result_bytes): not stored',
                        pg_column_size(o.result),
                        (
                            select s.max_result_bytes from procrastinate_settings as s
                            where s.singleton
                        )
                    )
            end as result_error,
            o.result,
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
            -- kept: waiters read it, its end releases its dependents
            and not d.store_result
            and not d.has_dependents
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
            end,
            last_error_traceback = case
                when d.reported = 'failed' then d.error_traceback else j.last_error_traceback
            end,
            result = case
                when d.store_result and d.reported = 'succeeded' and d.result_error is null
                    then d.result
            end,
            result_error = d.result_error
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
create or replace function _procrastinate_outcome_problem(p_outcomes jsonb)
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
                or jsonb_typeof(t.o -> 'error' -> 'traceback') not in ('string', 'null')
                or jsonb_path_exists(t.o, 'lax $.error.types[*] ? (@.type() != "string")')
                then array['PT005', 'has an error that is not {"types": [class names], '
                    || '"message": text, "traceback": text}']
            when jsonb_typeof(t.o -> 'result_error') not in ('string', 'null')
                then array['PT005', 'has a result_error that is not a string']
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

drop function procrastinate_finish_job(bigint, text, text, text[], bigint, integer);

-- User-facing finish, for workers written in other languages: reports the end
-- of one job fetched with procrastinate_fetch_jobs. Returns the new status.
create function procrastinate_finish_job(
    job_id bigint,
    status text,
    error_message text default null,
    error_types text[] default null,
    worker_id bigint default null,
    attempt integer default null,
    result jsonb default null
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
        jsonb_build_array(
            jsonb_strip_nulls(jsonb_build_object(
                'id', job_id,
                'attempt', attempt,
                'status', status,
                'error', case
                    when error_message is not null or error_types is not null
                        then jsonb_build_object(
                            'message', error_message, 'types', to_jsonb(error_types)
                        )
                end
            ))
            -- apart: stripping nulls would reach into the result
            || case when result is not null then jsonb_build_object('result', result) else '{}' end
        )
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

comment on function procrastinate_finish_job(bigint, text, text, text[], bigint, integer, jsonb) is
'Report the end of a job fetched with procrastinate_fetch_jobs: status is succeeded, failed
or aborted. A failure is retried if the job''s retry policy allows it (the result is then
todo, and the job waits for its retry delay); error_types (the exception class and its
bases) are matched against the job''s retry_exceptions. worker_id and attempt fence the
report: a job not held by that worker at that attempt is left as it is (SQLSTATE PT004);
an unknown job raises PT003. result: what the job returned, kept when it was deferred with
store_result (up to procrastinate_settings.max_result_bytes).';

-- After an update: wake workers for jobs back in todo and runnable now
-- (retries, manual retries), for jobs waiting on a lock that a job just
-- released, and the worker running a job whose abort was just requested;
-- tell those waiting for jobs deferred with store_result that they ended
-- ('job_finished': other jobs are not announced, which keeps a finish cheap;
-- their waiters poll); and release or cancel the jobs deferred after jobs
-- that just ended (57_dependencies.sql).
create or replace function _procrastinate_notify_updated_jobs()
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
    v_finished jsonb;
    v_parents_ended boolean;
    v_parents bigint[];
    v_more boolean;
begin
    -- One pass over the new rows says what applies. Most updates are claims
    -- (todo -> doing) and finishes of plain jobs: nothing does, and that pass
    -- is all they pay (5% of a fetch + finish when this was a join of the old
    -- and new rows). A lock is released only by a job leaving doing: the
    -- claim of a locked job (new status doing) needs nothing here. The end of
    -- a job that keeps its result is announced from the new row alone (one
    -- that stayed ended, announced again, is read again by its waiters).
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

-- "Why is nothing running in this queue?" in one call, for psql: one row per
-- reason that holds now, most blocking first. It reads the queue's waiting
-- jobs (through the claim's partial indexes) and the workers: a diagnosis,
-- not a monitoring query to run every second on a huge backlog.
create or replace function procrastinate_why_waiting(queue_name text)
returns table (reason text, jobs bigint, job_id bigint, detail text)
language sql
stable
-- an operator role has no right on the tables
security definer
set search_path = pg_catalog, public, pg_temp
as $$
    with waiting as (
        select
            j.id, j.lock, j.scheduled_at,
            -- the first of its lock's waiting and running jobs (the claim's
            -- rule): the first waiting one or the running one, whichever
            -- ranks first
            case when j.lock is not null then (
                select h.id
                from (
                    (
                        select o.id, o.priority from procrastinate_jobs as o
                        where
                            md5(o.lock) = md5(j.lock) and o.lock = j.lock
                            and o.status = 'todo'
                        order by o.priority desc, o.id asc
                        limit 1
                    )
                    union all
                    select o.id, o.priority from procrastinate_jobs as o
                    where
                        md5(o.lock) = md5(j.lock) and o.lock = j.lock
                        and o.status = 'doing'
                ) as h
                order by h.priority desc, h.id asc
                limit 1
            ) end as head_id
        from procrastinate_jobs as j
        where j.queue_name = $1 and j.status = 'todo'
    ),

    servers as (
        select
            w.id, w.concurrency,
            not _procrastinate_lease_expired(w.last_heartbeat, w.stalled_after, now()) as alive,
            (
                select count(*) from procrastinate_jobs as r
                where r.worker_id = w.id and r.status = 'doing'
            ) as running
        from procrastinate_workers as w
        where w.queues is null or $1 = any(w.queues)
    ),

    blocked_by_lock as (
        select w.lock, count(*) as jobs, min(w.head_id) as head_id
        from waiting as w
        where w.head_id <> w.id
        group by w.lock
    ),

    runnable as (
        select w.id
        from waiting as w
        where
            (w.scheduled_at is null or w.scheduled_at <= now())
            and (w.head_id is null or w.head_id = w.id)
            and not exists (
                select 1 from procrastinate_jobs as o
                where
                    w.lock is not null and md5(o.lock) = md5(w.lock) and o.lock = w.lock
                    and o.status = 'doing'
            )
    )

    select r.reason, r.jobs, r.job_id, r.detail
    from (
        select
            1 as rank, 'paused' as reason,
            (select count(*) from waiting) as jobs, null::bigint as job_id,
            format(
                'the queue is paused since %s: procrastinate_resume_queue(%L) lets workers take its jobs',
                p.paused_at, $1
            ) as detail
        from procrastinate_paused_queues as p
        where p.queue_name = $1

        union all
        select
            2, 'no_live_worker', (select count(*) from waiting), null,
            format(
                'no live worker serves the queue (%s registered for it, none alive): start one',
                (select count(*) from servers)
            )
        where
            not exists (select 1 from servers as s where s.alive)
            and exists (select 1 from waiting)

        union all
        select
            3, 'workers_busy', (select count(*) from runnable), null,
            format(
                '%s live worker(s) serving the queue run %s jobs in %s slots',
                count(*), sum(s.running), sum(s.concurrency)
            )
        from servers as s
        where s.alive
        having
            count(*) > 0 and sum(s.running) >= sum(s.concurrency)
            and exists (select 1 from runnable)

        union all
        select
            4, 'waiting_for_lock', b.jobs, b.head_id,
            case
                when h.status = 'doing' then format(
                    'lock %L is held by job %s, running on worker %s (%s)',
                    b.lock, h.id, coalesce(hw.name, '?'),
                    case
                        when hw.id is null then 'no worker row'
                        when _procrastinate_lease_expired(hw.last_heartbeat, hw.stalled_after, now())
                            then 'dead: its jobs are rescued by a live worker'
                        else 'alive'
                    end
                )
                else format(
                    'lock %L: job %s comes first%s', b.lock, h.id,
                    case
                        when h.scheduled_at > now() then format(' and is scheduled at %s', h.scheduled_at)
                        when h.queue_name <> $1 then format(' (queue %L)', h.queue_name)
                        else ''
                    end
                )
            end
        from blocked_by_lock as b
        inner join procrastinate_jobs as h on h.id = b.head_id
        left join procrastinate_workers as hw on hw.id = h.worker_id

        union all
        select
            5, 'waiting_for_parents', count(*), min(w.id),
            'deferred after jobs that have not ended yet (procrastinate_job_dependencies)'
        from waiting as w
        where w.scheduled_at = _procrastinate_held_until()
        having count(*) > 0

        union all
        select
            6, 'scheduled_later', count(*), min(w.id),
            format('next at %s', min(w.scheduled_at))
        from waiting as w
        where w.scheduled_at > now() and w.scheduled_at <> _procrastinate_held_until()
        having count(*) > 0

        union all
        select
            7, 'runnable', count(*), min(r.id),
            'waiting for a worker to fetch them (these jobs can run now)'
        from runnable as r
        having count(*) > 0

        union all
        select 8, 'empty', 0, null, 'no job waits in this queue'
        where not exists (select 1 from waiting)
    ) as r
    order by r.rank, r.jobs desc, r.job_id;
$$;

comment on function procrastinate_why_waiting(text) is
'Why the jobs of a queue are not running, one row per reason that holds now, most blocking
first: paused, no_live_worker, workers_busy, waiting_for_lock (one row per lock: the job
holding it and its worker, or the job that comes first), waiting_for_parents (deferred
after jobs that have not ended), scheduled_later, runnable (can run
now: a worker will fetch them), empty. jobs counts the waiting jobs the reason concerns;
job_id is an example (the lock''s holder, the next scheduled job, the oldest runnable one).';

do $$
begin
    if to_regrole('procrastinate_producer') is null then
        return;
    end if;
    revoke all on procrastinate_job_dependencies
    from procrastinate_producer, procrastinate_worker, procrastinate_operator;
    revoke execute on function
    procrastinate_defer_job(
        text, jsonb, text, integer, text, text, timestamptz, integer,
        double precision, double precision, double precision, text[], integer, boolean, bigint[],
        text
    ),
    procrastinate_fetch_jobs_v3(bigint, text[], integer, uuid, boolean, timestamptz),
    procrastinate_finish_job(bigint, text, text, text[], bigint, integer, jsonb),
    procrastinate_job_result(bigint),
    procrastinate_job_results_v1(bigint[]),
    _procrastinate_held_until(),
    _procrastinate_parents_ended(bigint[]),
    _procrastinate_link_parents(bigint[]),
    _procrastinate_release_dependents_of_deleted()
    from public;
    grant execute on function
    procrastinate_defer_job(
        text, jsonb, text, integer, text, text, timestamptz, integer,
        double precision, double precision, double precision, text[], integer, boolean, bigint[],
        text
    ),
    procrastinate_job_result(bigint),
    procrastinate_job_results_v1(bigint[])
    to procrastinate_producer;
    grant execute on function
    procrastinate_fetch_jobs_v3(bigint, text[], integer, uuid, boolean, timestamptz),
    procrastinate_finish_job(bigint, text, text, text[], bigint, integer, jsonb)
    to procrastinate_worker;
    grant execute on function
    procrastinate_defer_job(
        text, jsonb, text, integer, text, text, timestamptz, integer,
        double precision, double precision, double precision, text[], integer, boolean, bigint[],
        text
    ),
    procrastinate_fetch_jobs_v3(bigint, text[], integer, uuid, boolean, timestamptz),
    procrastinate_finish_job(bigint, text, text, text[], bigint, integer, jsonb),
    procrastinate_job_result(bigint),
    procrastinate_job_results_v1(bigint[])
    to procrastinate_operator;
end;
$$;
