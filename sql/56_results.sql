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
