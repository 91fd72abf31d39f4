-- Rescuing the jobs of dead workers when none is alive took the versioned
-- procrastinate_rescue_stalled_jobs_v2(null), undocumented for operators
-- (issue 20): procrastinate_rescue_stalled_jobs() is the user-facing form.
-- A post migration: the code does not call it, and a pre after the post
-- migrations 0020-0025 would block the procrastinate 3.x conversion.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

-- The operator's rescue, for when no worker is alive to rescue on its
-- heartbeat: the jobs of every worker whose lease ran out go back to the
-- queue now (procrastinate_rescue_stalled_jobs_v2 with no worker id, which
-- only a trusted session may call).
create function procrastinate_rescue_stalled_jobs()
returns table (job_id bigint, status procrastinate_job_status)
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    select r.job_id, r.status from procrastinate_rescue_stalled_jobs_v2(null) as r;
$$;

comment on function procrastinate_rescue_stalled_jobs() is
'Take back now the jobs of workers whose lease ran out (see procrastinate_stalled_jobs), as
live workers do on their heartbeat: for when none is alive. Each job goes back to todo, or
ends failed (rescued too often, or out of attempts) or aborted (abort requested). Returns the
rescued jobs and their new status. For the owner of the queue or an operator.';

-- Where sql/optional/roles.sql is in use, the new function is the operator's
-- only, as every function is there (not PUBLIC's, PostgreSQL's default).
do $$
begin
    if to_regrole('procrastinate_operator') is null then
        return;
    end if;
    revoke execute on function procrastinate_rescue_stalled_jobs() from public;
    grant execute on function procrastinate_rescue_stalled_jobs() to procrastinate_operator;
end;
$$;
