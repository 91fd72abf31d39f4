-- A worker may send its own decision (a custom retry strategy): an object
-- retries as told (at, priority, queue, lock; at null = now) whatever the
-- policy; false never retries.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(9);

select procrastinate_defer_job('no_policy', lock => 'L1') as told \gset
select procrastinate_defer_job('no_policy_now') as now_job \gset
select procrastinate_defer_job('policy', max_attempts => 0, retry_wait => 100) as refused \gset
select procrastinate_defer_job('exhausted', max_attempts => 1) as exhausted \gset
select procrastinate_defer_job('success') as success \gset
update procrastinate_jobs set attempts = 1 where id = :exhausted;

select is(
    (
        select count(*)::integer
        from procrastinate_fetch_jobs_v2(7, null, 10, p_now => '2030-01-01 00:00:00+00')
    ),
    5,
    'worker 7 claims the five jobs'
);

select results_eq(
    format(
        $$select job_id, accepted, status, scheduled_at
          from procrastinate_finish_jobs_v1(
              7,
              '[{"id": %s, "status": "failed",
                 "retry": {"at": "2030-01-01T01:00:00+00:00", "priority": 9,
                           "queue": "slow", "lock": "L2"}},
                {"id": %s, "status": "failed", "retry": {"at": null}},
                {"id": %s, "status": "failed", "retry": false},
                {"id": %s, "status": "failed", "retry": {}},
                {"id": %s, "status": "succeeded", "retry": {}}]',
              'never', '2030-01-01 00:00:00+00'
          )$$,
        :told, :now_job, :refused, :exhausted, :success
    ),
    format(
        $$values (%s::bigint, true, 'todo'::procrastinate_job_status,
                  '2030-01-01 01:00:00+00'::timestamptz),
                 (%s, true, 'todo', '2030-01-01 00:00:00+00'),
                 (%s, true, 'failed', null),
                 (%s, true, 'todo', '2030-01-01 00:00:00+00'),
                 (%s, true, 'succeeded', null)$$,
        :told, :now_job, :refused, :exhausted, :success
    ),
    'each decision is applied as told'
);
select results_eq(
    format(
        $$select status, scheduled_at, priority, queue_name, lock, worker_id, attempts
          from procrastinate_jobs where id = %s$$,
        :told
    ),
    $$values ('todo'::procrastinate_job_status, '2030-01-01 01:00:00+00'::timestamptz, 9,
              'slow'::text, 'L2'::text, null::bigint, 1)$$,
    'a job without retry policy is retried at the given time, priority, queue and lock'
);
select results_eq(
    format(
        'select status, scheduled_at, priority, queue_name from procrastinate_jobs where id = %s',
        :now_job
    ),
    $$values ('todo'::procrastinate_job_status, '2030-01-01 00:00:00+00'::timestamptz, 0,
              'default'::text)$$,
    'at null retries at p_now; absent overrides keep the job''s values'
);
select is(
    (select status from procrastinate_jobs where id = :refused), 'failed'::procrastinate_job_status,
    'retry false ends a job whose policy would retry it'
);
select is(
    (select status from procrastinate_jobs where id = :exhausted), 'todo'::procrastinate_job_status,
    'a decision object retries a job whose max_attempts is reached'
);
select is(
    (select status from procrastinate_jobs where id = :success),
    'succeeded'::procrastinate_job_status,
    'a success is never retried'
);
select results_eq(
    $$select id from procrastinate_fetch_jobs_v2(
        8, array['slow'], 1, p_now => '2030-01-01 01:00:00+00'
    )$$,
    format('values (%s::bigint)', :told),
    'the retried job is claimed from its new queue at the given time'
);
select is(
    (select lock from procrastinate_jobs where id = :told), 'L2',
    'under its new lock'
);

select * from finish();
rollback;
