-- Only failed and running jobs can be retried: other statuses raise PT004
-- naming the status, an unknown job PT003, an empty queue name PT001.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

select procrastinate_defer_job('waiting') as waiting \gset
select procrastinate_defer_job('ok', queue_name => 'run') as ok \gset
select procrastinate_defer_job('ko', queue_name => 'run') as ko \gset
select count(*) as claimed from procrastinate_fetch_jobs_v2(4, array['run'], 10) \gset
select count(*) as finished from procrastinate_finish_jobs_v1(
    4,
    format('[{"id": %s, "status": "succeeded"}, {"id": %s, "status": "failed"}]', :ok, :ko)::jsonb
) \gset
select coalesce(max(id), 0) + 1000 as unknown from procrastinate_jobs \gset

select throws_ok(
    format('select procrastinate_retry_job(%s)', :ok),
    'PT004',
    format(
        'job %s cannot be retried: its status is succeeded (only failed or running jobs can be)',
        :ok
    ),
    'a succeeded job cannot be retried'
);
select throws_ok(
    format('select procrastinate_retry_job(%s)', :waiting),
    'PT004', null,
    'a waiting job cannot be retried'
);
select is(procrastinate_cancel_job(:waiting), true, 'the waiting job is cancelled');
select throws_ok(
    format('select procrastinate_retry_job(%s)', :waiting),
    'PT004', null,
    'a cancelled job cannot be retried'
);
select throws_ok(
    format('select procrastinate_retry_job(%s)', :unknown),
    'PT003', format('job %s does not exist', :unknown),
    'an unknown job raises PT003'
);
select throws_ok(
    format('select procrastinate_retry_job(%s, queue_name => %L)', :ko, ''),
    'PT001', 'queue_name must not be empty',
    'an empty queue name is refused'
);
select results_eq(
    format(
        'select status, queue_name from procrastinate_jobs where id in (%s, %s) order by id',
        :ok, :ko
    ),
    $$values ('succeeded'::procrastinate_job_status, 'run'::text), ('failed', 'run')$$,
    'the jobs are unchanged'
);

select * from finish();
rollback;
