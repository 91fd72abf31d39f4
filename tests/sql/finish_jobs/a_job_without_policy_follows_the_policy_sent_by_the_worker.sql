-- A job deferred without a retry policy (max_attempts null: by name, from
-- SQL or another service) is retried by the policy the worker sends from
-- the task's definition; a job's own policy wins over the sent one, and
-- the sent policy is not stored.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(9);

select procrastinate_defer_job('bare') as bare \gset
select procrastinate_defer_job('exhausted') as exhausted \gset
select procrastinate_defer_job('filtered') as filtered \gset
select procrastinate_defer_job('exponential') as exponential \gset
select procrastinate_defer_job('refused') as refused \gset
select procrastinate_defer_job('own', max_attempts => 0, retry_wait => 5) as own \gset
update procrastinate_jobs set attempts = 1 where id = :exhausted;
update procrastinate_jobs set attempts = 2 where id = :exponential;

select is(
    (
        select count(*)::integer
        from procrastinate_fetch_jobs_v2(7, null, 10, p_now => '2030-01-01 00:00:00+00')
    ),
    6,
    'worker 7 claims the six jobs'
);

create temporary table result as
select
    f.job_id,
    f.status,
    f.scheduled_at
from procrastinate_finish_jobs_v1(
    7,
    format(
        $$[{"id": %s, "status": "failed", "policy": {"max_attempts": 2, "retry_wait": 10}},
           {"id": %s, "status": "failed", "policy": {"max_attempts": 1, "retry_wait": 10}},
           {"id": %s, "status": "failed", "error": {"types": ["ValueError"]},
            "policy": {"max_attempts": 0, "retry_exceptions": ["OSError"]}},
           {"id": %s, "status": "failed",
            "policy": {"max_attempts": 0, "retry_wait": 1, "retry_linear_wait": 2,
                       "retry_exponential_wait": 2}},
           {"id": %s, "status": "failed", "retry": false, "policy": {"max_attempts": 0}},
           {"id": %s, "status": "failed", "policy": {"max_attempts": 0, "retry_wait": 100}}]$$,
        :bare, :exhausted, :filtered, :exponential, :refused, :own
    )::jsonb,
    'never', '2030-01-01 00:00:00+00'
) as f;

select results_eq(
    format('select status, scheduled_at from result where job_id = %s', :bare),
    $$values ('todo'::procrastinate_job_status, '2030-01-01 00:00:10+00'::timestamptz)$$,
    'a job without policy is retried by the sent policy, after its wait'
);
select is(
    (select status from result where job_id = :exhausted), 'failed'::procrastinate_job_status,
    'the sent max_attempts bounds the retries'
);
select is(
    (select status from result where job_id = :filtered), 'failed'::procrastinate_job_status,
    'the sent retry_exceptions filter the retries'
);
-- attempts 2: 1 + 2 * 2 + 2 ^ 3 = 13 seconds
select is(
    (select scheduled_at from result where job_id = :exponential),
    '2030-01-01 00:00:13+00'::timestamptz,
    'the sent waits follow the formula'
);
select is(
    (select status from result where job_id = :refused), 'failed'::procrastinate_job_status,
    'retry false wins over the sent policy'
);
select is(
    (select scheduled_at from result where job_id = :own), '2030-01-01 00:00:05+00'::timestamptz,
    'a job''s own policy wins over the sent one'
);
select results_eq(
    format(
        'select max_attempts, retry_wait, retry_exceptions from procrastinate_jobs where id = %s',
        :bare
    ),
    $$values (null::integer, 0::float8, null::text[])$$,
    'the sent policy is not stored in the job'
);
select is(
    (
        select r.status from procrastinate_finish_jobs_v1(
            7,
            (
                select jsonb_agg(jsonb_build_object('id', f.id, 'status', 'failed'))
                from procrastinate_fetch_jobs_v2(
                    7, array['default'], 1, p_now => '2030-01-01 00:00:10+00'
                ) as f
            ),
            'never', '2030-01-01 00:00:10+00'
        ) as r
    ),
    'failed'::procrastinate_job_status,
    'without a sent policy the retried job is not retried again'
);

select * from finish();
rollback;
