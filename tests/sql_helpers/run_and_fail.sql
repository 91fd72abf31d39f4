-- Included (\ir) by the pgTAP files on retry policies, inside their
-- transaction: pg_temp.run_and_fail(queue, types, now, policy) makes worker 7
-- claim the due job of the queue at now and report it failed, with an error
-- of these class names (null: no error object) and, optionally, the policy
-- the worker knows for the task; returns the job's new status.
create function pg_temp.run_and_fail(
    p_queue text,
    p_types text[] default null,
    p_now timestamptz default '2030-01-01 00:00:00+00',
    p_policy jsonb default null
)
returns procrastinate_job_status
language plpgsql
as $$
declare
    v_job record;
    v_status procrastinate_job_status;
begin
    select f.id, f.attempts into strict v_job
    from procrastinate_fetch_jobs_v2(7, array[p_queue], 1, p_now => p_now) as f;
    select r.status into v_status
    from procrastinate_finish_jobs_v1(
        7,
        jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
            'id', v_job.id, 'attempt', v_job.attempts, 'status', 'failed',
            'error', case when p_types is not null then jsonb_build_object('types', p_types) end,
            'policy', p_policy
        ))),
        'never', p_now
    ) as r;
    return v_status;
end;
$$;
