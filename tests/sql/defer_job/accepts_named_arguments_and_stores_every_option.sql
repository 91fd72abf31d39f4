-- Every option of procrastinate_defer_job, in named notation, lands in its
-- column, the retry policy included.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(9);

select procrastinate_defer_job(
    task_name => 'send_mail',
    args => '{"to": "a@b.c"}',
    queue_name => 'emails',
    priority => 5,
    lock => 'user:1',
    queueing_lock => 'mail:user:1',
    scheduled_at => '2030-01-01 12:00:00+00',
    max_attempts => 3,
    retry_wait => 1.5,
    retry_linear_wait => 2,
    retry_exponential_wait => 3,
    retry_exceptions => array['ConnectionError', 'TimeoutError']
) as id \gset

select results_eq(
    format(
        $$select task_name, args, queue_name, priority, lock, queueing_lock
          from procrastinate_jobs where id = %s$$,
        :id
    ),
    $$values (
        'send_mail'::text, '{"to": "a@b.c"}'::jsonb, 'emails'::text, 5,
        'user:1'::text, 'mail:user:1'::text
    )$$,
    'task, args, queue, priority and locks are stored'
);
select is(
    (select scheduled_at from procrastinate_jobs where id = :id),
    '2030-01-01 12:00:00+00'::timestamptz,
    'scheduled_at is stored'
);
select is(
    (select max_attempts from procrastinate_jobs where id = :id), 3,
    'max_attempts is stored'
);
select is(
    (select retry_wait from procrastinate_jobs where id = :id), 1.5::float8,
    'retry_wait is stored'
);
select is(
    (select retry_linear_wait from procrastinate_jobs where id = :id), 2::float8,
    'retry_linear_wait is stored'
);
select is(
    (select retry_exponential_wait from procrastinate_jobs where id = :id), 3::float8,
    'retry_exponential_wait is stored'
);
select is(
    (select retry_exceptions from procrastinate_jobs where id = :id),
    array['ConnectionError', 'TimeoutError'],
    'retry_exceptions is stored'
);
select is(
    (select status from procrastinate_jobs where id = :id), 'todo'::procrastinate_job_status,
    'a job scheduled for later waits in todo'
);

select procrastinate_defer_job(task_name => 'plain', queue_name => 'q2') as plain_id \gset
select results_eq(
    format(
        $$select args, queue_name, priority, max_attempts from procrastinate_jobs where id = %s$$,
        :plain_id
    ),
    $$values ('{}'::jsonb, 'q2'::text, 0, null::integer)$$,
    'options left out take their defaults'
);

select * from finish();
rollback;
