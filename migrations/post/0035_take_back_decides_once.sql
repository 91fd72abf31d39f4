-- Review of 0030 (issue 14): _procrastinate_take_back_jobs decided a job's new
-- status, then repeated each condition of that decision to set finished_at.
-- The status is now decided once and finished_at follows from it. Same
-- results, same signature.
-- A post migration: the code does not need it, and a pre after the post
-- migrations 0020-0034 would block the procrastinate 3.x conversion.
-- Replacing a function takes no lock on the queue's tables; the timeouts
-- bound the wait on the catalog should anything hold it.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

-- Takes jobs back from the worker that held them, their run counted as an
-- attempt and a rescue: back to todo unless this is their max_rescues-th
-- rescue or their retry policy is exhausted (then they end failed: a lost
-- run counts, and a job deferred with max_runs 1 has had its run), or their
-- abort was requested (aborted). A job with no retry policy is requeued too:
-- losing its run is not the job's failure. p_why completes "worker N ..." in
-- last_error. The caller has locked the rows; jobs no longer in doing are
-- left alone. Returns the jobs taken back and their new status.
create or replace function _procrastinate_take_back_jobs(
    p_job_ids bigint[],
    p_now timestamptz,
    p_why text,
    p_error_type text
)
returns table (job_id bigint, status procrastinate_job_status)
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    with settings as (
        select s.max_rescues from procrastinate_settings as s
    ),

    decided as (
        select
            j.id,
            case
                when j.abort_requested then 'aborted'
                when
                    j.rescue_count + 1 >= s.max_rescues
                    or (j.max_attempts > 0 and j.attempts + 1 > j.max_attempts)
                    or j.retry_exceptions = array['(max_runs 1: never retried)']
                    then 'failed'
                else 'todo'
            end::procrastinate_job_status as new_status
        from procrastinate_jobs as j
        cross join settings as s
        where j.id = any(p_job_ids) and j.status = 'doing'
    ),

    taken as (
        update procrastinate_jobs as j
        set
            status = d.new_status,
            attempts = j.attempts + 1,
            rescue_count = j.rescue_count + 1,
            worker_id = null,
            claim_token = null,
            abort_requested = false,
            -- an end (failed or aborted) is final; a job back in todo is not
            finished_at = case when d.new_status <> 'todo' then p_now end,
            last_error = format(
                'worker %s %s (rescue %s of at most %s)',
                j.worker_id, p_why, j.rescue_count + 1, s.max_rescues
            ),
            last_error_types = array[p_error_type]
        from decided as d, settings as s
        where j.id = d.id
        returning j.id, j.status
    )

    select t.id, t.status from taken as t
    order by t.id;
$$;
