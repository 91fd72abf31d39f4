-- A job deferred with store_result keeps what its last run returned, as
-- sent (nulls inside included); other jobs keep nothing, whatever the
-- worker sends. A failure keeps its message, types and traceback, and no
-- result. Such a job is not deleted when it ends, whatever p_delete_jobs
-- says: its waiters read it. procrastinate_job_result reads it all.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(14);

select procrastinate_defer_job('kept', store_result => true) as kept \gset
select procrastinate_defer_job('plain') as plain \gset
select procrastinate_defer_job('flaky', store_result => true, max_attempts => 1) as flaky \gset
select procrastinate_defer_jobs_v2(
    '[{"task_name": "deleted", "store_result": true}]'
) as batch \gset

select results_eq(
    'select id, store_result from procrastinate_fetch_jobs_v3(7, null, 10) order by id',
    format(
        'values (%s::bigint, true), (%s, false), (%s, true), (%s, true)',
        :kept, :plain, :flaky, :batch
    ),
    'the claim tells the worker which jobs store their result'
);

select is(
    (
        select array_agg(f.status order by f.job_id) from procrastinate_finish_jobs_v1(
            7,
            format(
                '[{"id": %s, "status": "succeeded", "result": {"n": [1, null], "s": "x"}},
                  {"id": %s, "status": "succeeded", "result": {"ignored": true}},
                  {"id": %s, "status": "failed",
                   "error": {"message": "ValueError: no", "types": ["ValueError"],
                             "traceback": "Traceback...\nValueError: no"}},
                  {"id": %s, "status": "succeeded", "result": 42}]',
                :kept, :plain, :flaky, :batch
            )::jsonb,
            'always'
        ) as f
    ),
    array['succeeded', 'succeeded', 'todo', 'succeeded']::procrastinate_job_status[],
    'the outcomes are applied (the failure goes back for its retry)'
);

select is(
    (select result from procrastinate_jobs where id = :kept),
    '{"n": [1, null], "s": "x"}'::jsonb,
    'the result is stored as sent'
);
select ok(
    not exists (select 1 from procrastinate_jobs where id = :plain),
    'a job without store_result is deleted as asked (always)'
);
select is(
    (select result from procrastinate_jobs where id = :batch), '42'::jsonb,
    'store_result from a job object: kept, and not deleted despite always'
);
select results_eq(
    format(
        'select result, error_traceback from procrastinate_job_results_v1(array[%s::bigint])',
        :flaky
    ),
    $$values (null::jsonb, E'Traceback...\nValueError: no')$$,
    'a failed run keeps its traceback, and no result'
);

-- the retry of the flaky job succeeds: the result of the last run
select is(
    (
        select count(*)::integer
        from procrastinate_fetch_jobs_v3(7, null, 10, p_now => now() + interval '1 hour')
    ),
    1,
    'the retry is claimed'
);
select is(
    procrastinate_finish_job(:flaky, 'succeeded', worker_id => 7, result => '["done"]'),
    'succeeded'::procrastinate_job_status,
    'procrastinate_finish_job reports a result'
);
select results_eq(
    format('select status, result, result_error from procrastinate_job_result(%s)', :flaky),
    $$values ('succeeded'::procrastinate_job_status, '["done"]'::jsonb, null::text)$$,
    'procrastinate_job_result: the status and result of the last run'
);
select is(
    (select last_error from procrastinate_jobs where id = :flaky), 'ValueError: no',
    'the error of the failed run stays as history'
);
select results_eq(
    format('select status, result from procrastinate_job_result(%s)', :kept),
    $$values ('succeeded'::procrastinate_job_status, '{"n": [1, null], "s": "x"}'::jsonb)$$,
    'procrastinate_job_result reads the stored result'
);

select procrastinate_defer_job('waiting', store_result => true) as waiting \gset
select results_eq(
    format('select status, result from procrastinate_job_result(%s)', :waiting),
    $$values ('todo'::procrastinate_job_status, null::jsonb)$$,
    'a job not ended yet reads as its status and no result'
);
select throws_ok(
    'select * from procrastinate_job_result(-1)', 'PT003', 'job -1 does not exist',
    'an unknown job raises PT003'
);
select throws_ok(
    'select * from procrastinate_job_result(null)', 'PT001', null,
    'a null id raises PT001'
);

select * from finish();
rollback;
