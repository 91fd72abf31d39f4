-- A failure the policy allows to retry puts the job back in todo at
-- p_now + (retry_wait + retry_linear_wait * attempts
-- + retry_exponential_wait ^ (attempts + 1)) seconds, attempts counting the
-- runs ended before this one. Here wait 10, linear 5, exponential 2.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(9);

-- Worker 7 claims the due job of p_queue at p_now and reports it failed.
create function pg_temp.run_and_fail(p_queue text, p_now timestamptz)
returns table (
    job_id bigint, accepted boolean, status procrastinate_job_status,
    scheduled_at timestamptz, reason text
)
language plpgsql
as $$
declare
    v_job record;
begin
    select f.id, f.attempts into strict v_job
    from procrastinate_fetch_jobs_v2(7, array[p_queue], 1, p_now => p_now) as f;
    return query
    select * from procrastinate_finish_jobs_v1(
        7,
        jsonb_build_array(jsonb_build_object(
            'id', v_job.id, 'attempt', v_job.attempts, 'status', 'failed',
            'error', jsonb_build_object('types', array['ValueError'], 'message', 'boom')
        )),
        'never', p_now
    );
end;
$$;

select procrastinate_defer_job(
    'flaky', queue_name => 'retry', max_attempts => 0,
    retry_wait => 10, retry_linear_wait => 5, retry_exponential_wait => 2
) as flaky \gset

-- attempts 0: 10 + 5 * 0 + 2 ^ 1 = 12 seconds
select results_eq(
    $$select job_id, accepted, status, scheduled_at, reason
      from pg_temp.run_and_fail('retry', '2030-01-01 00:00:00+00')$$,
    format(
        $$values (%s::bigint, true, 'todo'::procrastinate_job_status,
                  '2030-01-01 00:00:12+00'::timestamptz, null::text)$$,
        :flaky
    ),
    'the first failure is retried 12 s later'
);
select results_eq(
    format(
        $$select status, attempts, scheduled_at, worker_id, finished_at, last_error
          from procrastinate_jobs where id = %s$$,
        :flaky
    ),
    $$values ('todo'::procrastinate_job_status, 1, '2030-01-01 00:00:12+00'::timestamptz,
              null::bigint, null::timestamptz, 'boom'::text)$$,
    'the job waits again: attempts 1, no worker, not finished, error kept'
);
select is_empty(
    $$select id
      from procrastinate_fetch_jobs_v2(
          7, array['retry'], 1, p_now => '2030-01-01 00:00:11.999999+00'
      )$$,
    'the retry is not claimed before its time'
);

-- attempts 1: 10 + 5 * 1 + 2 ^ 2 = 19 seconds
select is(
    (select r.scheduled_at from pg_temp.run_and_fail('retry', '2030-01-01 00:00:12+00') as r),
    '2030-01-01 00:00:31+00'::timestamptz,
    'the second failure is retried 19 s later'
);
-- attempts 2: 10 + 5 * 2 + 2 ^ 3 = 28 seconds
select is(
    (select r.scheduled_at from pg_temp.run_and_fail('retry', '2030-01-01 00:00:31+00') as r),
    '2030-01-01 00:00:59+00'::timestamptz,
    'the third failure is retried 28 s later'
);
select is(
    (select attempts from procrastinate_jobs where id = :flaky), 3,
    'three runs were counted'
);

select procrastinate_defer_job(
    'fractional', queue_name => 'fraction', max_attempts => 0,
    retry_wait => 0.25, retry_exponential_wait => 1.5
) as fractional \gset
-- attempts 0: 0.25 + 1.5 ^ 1 = 1.75 seconds
select is(
    (select r.scheduled_at from pg_temp.run_and_fail('fraction', '2030-01-01 00:00:00+00') as r),
    '2030-01-01 00:00:01.75+00'::timestamptz,
    'fractional waits are kept to the microsecond'
);

select procrastinate_defer_job(
    'immediate', queue_name => 'now', max_attempts => 0
) as immediate \gset
select is(
    (select r.scheduled_at from pg_temp.run_and_fail('now', '2030-01-01 00:00:00+00') as r),
    '2030-01-01 00:00:00+00'::timestamptz,
    'without waits the retry is due at once'
);
select results_eq(
    $$select id from procrastinate_fetch_jobs_v2(
        7, array['now'], 1, p_now => '2030-01-01 00:00:00+00'
    )$$,
    format('values (%s::bigint)', :immediate),
    'and is claimed again at once'
);

select * from finish();
rollback;
