-- A job whose retry_exceptions is set is retried only when one of the
-- failure's class names (its own or a base class) is in that list; null
-- retries any failure.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

\ir ../../sql_helpers/run_and_fail.sql

select count(*) as deferred from procrastinate_defer_jobs($$[
    {"task_name": "t", "queue_name": "other", "max_attempts": 0,
     "retry_exceptions": ["ConnectionError"]},
    {"task_name": "t", "queue_name": "own", "max_attempts": 0,
     "retry_exceptions": ["ConnectionError"]},
    {"task_name": "t", "queue_name": "base", "max_attempts": 0,
     "retry_exceptions": ["KeyError", "OSError"]},
    {"task_name": "t", "queue_name": "untyped", "max_attempts": 0,
     "retry_exceptions": ["ConnectionError"]},
    {"task_name": "t", "queue_name": "any", "max_attempts": 0},
    {"task_name": "t", "queue_name": "exhausted", "max_attempts": 1,
     "retry_exceptions": ["ValueError"]}
]$$) \gset

select is(
    pg_temp.run_and_fail('other', array['ValueError', 'Exception']),
    'failed'::procrastinate_job_status,
    'a failure whose classes are not listed is final'
);
select is(
    pg_temp.run_and_fail('own', array['ConnectionError', 'OSError', 'Exception']),
    'todo'::procrastinate_job_status,
    'a failure of a listed class is retried'
);
select is(
    pg_temp.run_and_fail('base', array['TimeoutError', 'OSError', 'Exception']),
    'todo'::procrastinate_job_status,
    'a failure whose base class is listed is retried'
);
select is(
    pg_temp.run_and_fail('untyped', null),
    'failed'::procrastinate_job_status,
    'a failure without class names cannot match the list: final'
);
select is(
    pg_temp.run_and_fail('any', array['KeyError']),
    'todo'::procrastinate_job_status,
    'without retry_exceptions any failure is retried'
);
update procrastinate_jobs set attempts = 1 where queue_name = 'exhausted';
select is(
    pg_temp.run_and_fail('exhausted', array['ValueError']),
    'failed'::procrastinate_job_status,
    'a listed class does not extend max_attempts'
);

select * from finish();
rollback;
