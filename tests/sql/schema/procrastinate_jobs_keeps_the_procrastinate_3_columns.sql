-- The columns procrastinate 3.x tools and queries rely on are there, with
-- the same types.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(24);

select has_column('procrastinate_jobs', 'id', 'jobs have an id');
select col_type_is('procrastinate_jobs', 'id', 'bigint', 'id is a bigint');
select has_column('procrastinate_jobs', 'queue_name', 'jobs have a queue_name');
select col_type_is('procrastinate_jobs', 'queue_name', 'text', 'queue_name is text');
select has_column('procrastinate_jobs', 'task_name', 'jobs have a task_name');
select col_type_is('procrastinate_jobs', 'task_name', 'text', 'task_name is text');
select has_column('procrastinate_jobs', 'priority', 'jobs have a priority');
select col_type_is('procrastinate_jobs', 'priority', 'integer', 'priority is an integer');
select has_column('procrastinate_jobs', 'lock', 'jobs have a lock');
select col_type_is('procrastinate_jobs', 'lock', 'text', 'lock is text');
select has_column('procrastinate_jobs', 'queueing_lock', 'jobs have a queueing_lock');
select col_type_is('procrastinate_jobs', 'queueing_lock', 'text', 'queueing_lock is text');
select has_column('procrastinate_jobs', 'args', 'jobs have args');
select col_type_is('procrastinate_jobs', 'args', 'jsonb', 'args is jsonb');
select has_column('procrastinate_jobs', 'status', 'jobs have a status');
select col_type_is(
    'procrastinate_jobs', 'status', 'procrastinate_job_status',
    'status is a procrastinate_job_status'
);
select has_column('procrastinate_jobs', 'scheduled_at', 'jobs have a scheduled_at');
select col_type_is(
    'procrastinate_jobs', 'scheduled_at', 'timestamp with time zone',
    'scheduled_at is a timestamptz'
);
select has_column('procrastinate_jobs', 'attempts', 'jobs have attempts');
select col_type_is('procrastinate_jobs', 'attempts', 'integer', 'attempts is an integer');
select has_column('procrastinate_jobs', 'abort_requested', 'jobs have abort_requested');
select col_type_is(
    'procrastinate_jobs', 'abort_requested', 'boolean', 'abort_requested is a boolean'
);
select has_column('procrastinate_jobs', 'worker_id', 'jobs have a worker_id');
select col_type_is('procrastinate_jobs', 'worker_id', 'bigint', 'worker_id is a bigint');

select * from finish();
rollback;
