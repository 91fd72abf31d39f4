-- procrastinate_validate_jobs_v1 is the one validation of every insert
-- path: it raises PT001 or PT002 and never writes.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(5);

select count(*) as jobs_before from procrastinate_jobs \gset

select lives_ok(
    $$select _procrastinate_validate_jobs(
        '[{"task_name": "a", "args": {"x": 1}, "queue_name": "q", "priority": -3,
           "lock": "l", "queueing_lock": "ql", "scheduled_at": "2030-01-01T00:00:00Z",
           "max_attempts": 0, "retry_wait": 1.5, "retry_linear_wait": 0,
           "retry_exponential_wait": 2, "retry_exceptions": ["OSError"]}]'
    )$$,
    'a job object using every key is valid'
);
select is(
    (select count(*) from procrastinate_jobs), :jobs_before::bigint,
    'validating writes nothing'
);
select throws_ok(
    $$select _procrastinate_validate_jobs(
        '[{"task_name": "a"}, {"task_name": "b", "args": 1}]'
    )$$,
    'PT001', 'job #2 of 2 is invalid: it has args that are not a JSON object (got number)',
    'an invalid job is named by its position'
);

select procrastinate_defer_job('holder', queueing_lock => 'ql') as holder \gset

select throws_ok(
    $$select _procrastinate_validate_jobs('[{"task_name": "a", "queueing_lock": "ql"}]')$$,
    'PT002', 'queueing lock "ql" is already taken by a waiting job',
    'a taken queueing lock is reported'
);
select lives_ok(
    $$select _procrastinate_validate_jobs('[{"task_name": "a", "queueing_lock": "other"}]')$$,
    'a free queueing lock is valid'
);

select * from finish();
rollback;
