-- NOTIFY refuses payloads of 8000 bytes or more. Delivery needs two
-- sessions (tests/py/sql/test_notifications.py); here we check that no
-- statement fails because its notification would be too long: the list is
-- dropped instead.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

select throws_ok(
    $$select pg_notify('procrastinate', repeat('x', 8000))$$,
    '22023', null,
    'PostgreSQL refuses a payload of 8000 bytes (what the rule guards against)'
);
select lives_ok(
    $$select _procrastinate_notify(
        'job_available', 'queues',
        (select jsonb_agg('queue_' || lpad(i::text, 20, '0')) from generate_series(1, 1000) as i)
    )$$,
    'procrastinate_notify_v1 with a 30 kB list does not fail'
);
select lives_ok(
    $$select _procrastinate_notify('job_available', 'queues', '["default"]')$$,
    'procrastinate_notify_v1 with a short list does not fail'
);
select lives_ok(
    $$select * from procrastinate_defer_jobs(
        (select jsonb_agg(jsonb_build_object(
             'task_name', 't',
             'queue_name', 'queue_with_a_long_name_' || lpad((i % 500)::text, 30, '0')))
         from generate_series(1, 2000) as i)
    )$$,
    'deferring 2000 jobs into 500 long-named queues at once does not fail'
);
select is(
    (select count(*)::integer from procrastinate_fetch_jobs_v2(1, null, 5000)), 2000,
    'the 2000 jobs are claimed'
);
insert into procrastinate_jobs (queue_name, task_name, status)
select
    'running' as queue_name,
    't' as task_name,
    'doing'::procrastinate_job_status as status
from generate_series(1, 2000);
select lives_ok(
    $$update procrastinate_jobs set abort_requested = true where queue_name = 'running'$$,
    'requesting the abort of 2000 jobs in one statement does not fail'
);

select * from finish();
rollback;
