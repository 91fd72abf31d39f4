-- The simplest call, from psql or a trigger: a task name and its args give
-- a waiting job in the default queue, with procrastinate's defaults.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(8);

select procrastinate_defer_job('sum_task', '{"a": 3, "b": 5}') as sum_id \gset
select procrastinate_defer_job('bare_task') as bare_id \gset

select is(
    (select count(*)::integer from procrastinate_jobs where id = :sum_id), 1,
    'the returned id is the id of the stored job'
);
select results_eq(
    format(
        $$select task_name, args, queue_name, status, priority, lock, queueing_lock,
                 scheduled_at, attempts, abort_requested, worker_id
          from procrastinate_jobs where id = %s$$,
        :sum_id
    ),
    $$values (
        'sum_task'::text, '{"a": 3, "b": 5}'::jsonb, 'default'::text,
        'todo'::procrastinate_job_status, 0, null::text, null::text,
        null::timestamptz, 0, false, null::bigint
    )$$,
    'sum_task is stored waiting in the default queue with its args and no lock'
);
select results_eq(
    format(
        $$select max_attempts, retry_wait, retry_linear_wait, retry_exponential_wait,
                 retry_exceptions
          from procrastinate_jobs where id = %s$$,
        :sum_id
    ),
    $$values (null::integer, 0::float8, 0::float8, 0::float8, null::text[])$$,
    'by default a job is never retried'
);
select is(
    (select args from procrastinate_jobs where id = :bare_id), '{}'::jsonb,
    'a job deferred with just a task name has empty args'
);
select is(
    (select status from procrastinate_jobs where id = :bare_id),
    'todo'::procrastinate_job_status,
    'a job deferred with just a task name waits'
);
select is(
    (select created_at from procrastinate_jobs where id = :sum_id), now(),
    'created_at is the time of the defer'
);
select lives_ok(
    $$select procrastinate_defer_job('null_args', null)$$,
    'null args are accepted'
);
select is(
    (select args from procrastinate_jobs where task_name = 'null_args'), '{}'::jsonb,
    'null args are stored as an empty object'
);

select * from finish();
rollback;
