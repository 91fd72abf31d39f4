-- Finishing: workers report outcomes, many jobs per call. Retry scheduling is
-- decided here from the job's own retry policy, unless the worker sends an
-- explicit decision (a custom retry strategy in Python). Reports are fenced:
-- only the worker holding the job, at the attempt it fetched, changes it.

-- Seconds to wait before the next attempt, procrastinate's formula:
-- wait + linear_wait * attempts + exponential_wait ^ (attempts + 1), capped at
-- about 300 years so that a long-retrying job cannot overflow.
create function procrastinate_retry_delay_v1(
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
-- A job deferred with store_result keeps what its run returned (the
-- outcome's result, up to procrastinate_settings.max_result_bytes, else
-- result_error says why), is never deleted here (its waiters read it), and
-- every run overwrites the result of the run before: a failed run leaves none.
-- Nor is a job other jobs were deferred after (its end releases them).
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
            -- the checks below are of keys a plain outcome goes without: an
            -- outcome without any of them is valid by now (a fifth of the
            -- cost of the checks of a report)
            when not t.o ?| array['error', 'result_error', 'interrupted', 'retry', 'policy']
                then null
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

-- Applies a JSON array of outcomes ({"id", "attempt", "status", "error",
-- "interrupted", "retry", "policy", "result", "result_error"}) reported by
-- p_worker_id; one result row per outcome. Called by the Python worker (and
-- procrastinate_finish_job).
create function procrastinate_finish_jobs_v1(
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
    -- a sign of life: renews the worker's lease (58_leases.sql)
    perform _procrastinate_renew_lease(p_worker_id, v_now, true);

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
