-- A job with a timeout held by a worker that hangs (its lease kept alive,
-- no report) is taken back once past its deadline (its claim plus its
-- timeout) and the grace of 10 s, long before the worker's lease would run
-- out; its retry policy decides what becomes of it, the error type is
-- JobTimeout, and the hung worker's late report is refused (not_held).
-- A job without a timeout of the same worker is left alone.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(9);

select procrastinate_register_worker_v2(
    'hung', null, 2, 'h', 1, p_stalled_after => 600, p_now => '2030-01-01 00:00:00+00'
) as hung \gset
select procrastinate_defer_job('slow', timeout => 5, max_attempts => 3) as slow \gset
select procrastinate_defer_job('untimed') as untimed \gset

select results_eq(
    format(
        $$select id, timeout, deadline
          from procrastinate_fetch_jobs_v5(%s, null, 2, p_now => '2030-01-01 00:00:00+00')
          order by id$$,
        :hung
    ),
    format(
        $$values (%s::bigint, 5::double precision, '2030-01-01 00:00:05+00'::timestamptz),
                 (%s::bigint, null::double precision, null::timestamptz)$$,
        :slow, :untimed
    ),
    'the claim returns each job''s timeout and the deadline it stored'
);
select results_eq(
    format(
        'select deadline from procrastinate_jobs where id in (%s, %s) order by id',
        :slow, :untimed
    ),
    $$values ('2030-01-01 00:00:05+00'::timestamptz), (null::timestamptz)$$,
    'the deadline is stored with the claim (null without a timeout)'
);

-- the worker stays alive: heartbeats, no report
select procrastinate_heartbeat_v2(:hung, '2030-01-01 00:00:14+00') as beat \gset

select is_empty(
    $$select * from procrastinate_rescue_stalled_jobs_v2(
        null, p_now => '2030-01-01 00:00:14+00'
    )$$,
    'within the grace after the deadline nothing is rescued'
);
select results_eq(
    $$select job_id, status
      from procrastinate_rescue_stalled_jobs_v2(null, p_now => '2030-01-01 00:00:16+00')$$,
    format($$values (%s::bigint, 'todo'::procrastinate_job_status)$$, :slow),
    'past the deadline and the grace, the job is taken back from its live worker'
);
select results_eq(
    format(
        $$select status, attempts, worker_id, last_error_types
          from procrastinate_jobs where id = %s$$,
        :slow
    ),
    $$values (
        'todo'::procrastinate_job_status, 1, null::bigint,
        array['procrastinate.exceptions.JobTimeout']
    )$$,
    'it waits again, its run counted as an attempt, failed with JobTimeout'
);
select is(
    (select last_error from procrastinate_jobs where id = :slow),
    format(
        'worker %s did not end this job by its deadline (its timeout) (rescue 1 of at most 3)',
        :hung
    ),
    'its last error says which worker held it past its deadline'
);
select results_eq(
    format('select status, worker_id from procrastinate_jobs where id = %s', :untimed),
    format($$values ('doing'::procrastinate_job_status, %s::bigint)$$, :hung),
    'the job without a timeout stays with its live worker'
);
select is(
    (
        select f.reason from procrastinate_finish_jobs_v1(
            :hung, format('[{"id": %s, "attempt": 0, "status": "succeeded"}]', :slow)::jsonb
        ) as f
    ),
    'not_held',
    'the hung worker''s late report of the job is refused'
);
select is(
    (select w.id from procrastinate_workers as w where w.id = :hung),
    :hung::bigint,
    'the live worker keeps its registration'
);

select * from finish();
rollback;
