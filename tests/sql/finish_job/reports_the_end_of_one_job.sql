-- procrastinate_finish_job, for workers in other languages: reports one
-- job and returns its new status (todo when the policy retries it).
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

select procrastinate_defer_job('ok', queue_name => 'q1') as ok \gset
select procrastinate_defer_job(
    'flaky', queue_name => 'q2', max_attempts => 0, retry_wait => 30
) as flaky \gset
select procrastinate_defer_job('anonymous', queue_name => 'q3') as anonymous \gset

select is(
    (select count(*)::integer from procrastinate_fetch_jobs(array['q1', 'q2'], 10, worker_id => 5)),
    2,
    'worker 5 claims two jobs'
);
select is(
    procrastinate_finish_job(:ok, 'succeeded', worker_id => 5, attempt => 0),
    'succeeded'::procrastinate_job_status,
    'a success returns succeeded'
);
select is(
    procrastinate_finish_job(
        :flaky, 'failed',
        error_message => 'timeout', error_types => array['TimeoutError', 'OSError'],
        worker_id => 5, attempt => 0
    ),
    'todo'::procrastinate_job_status,
    'a failure the policy retries returns todo'
);
select results_eq(
    format(
        $$select status, attempts, scheduled_at, last_error, last_error_types
          from procrastinate_jobs where id = %s$$,
        :flaky
    ),
    $$values ('todo'::procrastinate_job_status, 1, now() + interval '30 seconds',
              'timeout'::text, array['TimeoutError', 'OSError'])$$,
    'the job waits 30 s, with the error recorded'
);
select is(
    (select count(*)::integer from procrastinate_fetch_jobs(array['q3'])), 1,
    'a job is claimed without a worker id'
);
select is(
    procrastinate_finish_job(:anonymous, 'failed', 'boom'),
    'failed'::procrastinate_job_status,
    'an anonymous job is reported without worker id nor attempt'
);
select is(
    (select last_error from procrastinate_jobs where id = :anonymous), 'boom',
    'the error message is recorded'
);

select * from finish();
rollback;
