-- max_attempts: null never retries; n retries while fewer than n runs ended
-- before the failing one (procrastinate's meaning: n retries); 0 retries
-- without limit.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(8);

\ir ../../sql_helpers/run_and_fail.sql

select procrastinate_defer_job('never', queue_name => 'never') as never \gset
select procrastinate_defer_job('twice', queue_name => 'twice', max_attempts => 2) as twice \gset
select procrastinate_defer_job(
    'forever', queue_name => 'forever', max_attempts => 0
) as forever \gset

select results_eq(
    $$select status, scheduled_at
      from procrastinate_finish_jobs_v1(
          7,
          (select jsonb_agg(jsonb_build_object('id', f.id, 'status', 'failed'))
           from procrastinate_fetch_jobs_v2(
               7, array['never'], 1, p_now => '2030-01-01 00:00:00+00'
           ) as f),
          'never', '2030-01-01 00:00:00+00'
      )$$,
    $$values ('failed'::procrastinate_job_status, null::timestamptz)$$,
    'max_attempts null: the first failure is final'
);

select is(
    pg_temp.run_and_fail('twice'), 'todo'::procrastinate_job_status,
    'max_attempts 2: the failure at attempts 0 is retried'
);
select is(
    pg_temp.run_and_fail('twice'), 'todo'::procrastinate_job_status,
    'max_attempts 2: the failure at attempts 1 is retried'
);
select is(
    pg_temp.run_and_fail('twice'), 'failed'::procrastinate_job_status,
    'max_attempts 2: the failure at attempts 2 is final'
);
select results_eq(
    format('select status, attempts, finished_at from procrastinate_jobs where id = %s', :twice),
    $$values ('failed'::procrastinate_job_status, 3, '2030-01-01 00:00:00+00'::timestamptz)$$,
    'the job ran three times and is finished'
);

select is(
    pg_temp.run_and_fail('forever'), 'todo'::procrastinate_job_status,
    'max_attempts 0: the first failure is retried'
);
update procrastinate_jobs set attempts = 100000 where id = :forever;
select is(
    pg_temp.run_and_fail('forever'), 'todo'::procrastinate_job_status,
    'max_attempts 0: a failure after 100000 runs is still retried'
);
select is(
    (select attempts from procrastinate_jobs where id = :forever), 100001,
    'attempts keeps counting'
);

select * from finish();
rollback;
