-- Malformed batches are refused with SQLSTATE PT001 and a message naming
-- the problem (procrastinate_defer_jobs_v1 validates for every insert path).
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(16);

select count(*) as jobs_before from procrastinate_jobs \gset

select throws_ok(
    $$select * from procrastinate_defer_jobs_v2('{"task_name": "a"}')$$,
    'PT001', 'jobs must be a JSON array of job objects, got object',
    'a job object that is not in an array is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs_v2(null)$$,
    'PT001', 'jobs must be a JSON array of job objects, got null',
    'null is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs('["a"]')$$,
    'PT001', 'job #1 of 1 is invalid: it is not a JSON object',
    'an array element that is not an object is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs_v2(
        '[{"task_name": "a", "taskname": "b", "prio": 1}]'
    )$$,
    'PT001', 'job #1 of 1 is invalid: it has unknown keys: prio, taskname',
    'unknown keys are refused and named'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs_v2('[{"args": {}}]')$$,
    'PT001', 'job #1 of 1 is invalid: it needs a task_name, a non-empty string',
    'a job without task_name is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs_v2('[{"task_name": 12}]')$$,
    'PT001', 'job #1 of 1 is invalid: it needs a task_name, a non-empty string',
    'a task_name that is not a string is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs_v2(
        '[{"task_name": "a", "scheduled_at": "not a date"}]'
    )$$,
    'PT001', null,
    'a scheduled_at that does not parse is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs_v2(
        '[{"task_name": "a", "scheduled_at": "2030-02-30T00:00:00Z"}]'
    )$$,
    'PT001', null,
    'a scheduled_at that does not exist is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs_v2(
        '[{"task_name": "a", "scheduled_at": 1700000000}]'
    )$$,
    'PT001', 'job #1 of 1 is invalid: it has a scheduled_at that is not a timestamp string',
    'a scheduled_at that is a number is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs_v2('[{"task_name": "a", "priority": 1.5}]')$$,
    'PT001', 'job #1 of 1 is invalid: it has a priority that is not an integer',
    'a fractional priority is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs_v2('[{"task_name": "a", "priority": "high"}]')$$,
    'PT001', 'job #1 of 1 is invalid: it has a priority that is not an integer',
    'a priority that is a string is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs_v2('[{"task_name": "a", "lock": 1}]')$$,
    'PT001', 'job #1 of 1 is invalid: it has a lock that is not a string',
    'a lock that is not a string is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs_v2('[{"task_name": "a", "max_attempts": -3}]')$$,
    'PT001', 'job #1 of 1 is invalid: it has a negative max_attempts (-3); use 0 for no limit',
    'a negative max_attempts is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs_v2('[{"task_name": "a", "retry_wait": "10s"}]')$$,
    'PT001',
    'job #1 of 1 is invalid: it has a retry wait that is not a number of seconds from 0 to 1e9',
    'a retry wait that is not a number is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs_v2(
        '[{"task_name": "a", "retry_exceptions": ["OSError", 1]}]'
    )$$,
    'PT001', 'job #1 of 1 is invalid: it has retry_exceptions that are not an array of class names',
    'retry_exceptions with a non-string are refused'
);

select is(
    (select count(*) from procrastinate_jobs), :jobs_before::bigint,
    'nothing was written'
);

select * from finish();
rollback;
