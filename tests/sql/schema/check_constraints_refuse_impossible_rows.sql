-- Rows no function would write are refused even when written by hand.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(8);

select throws_ok(
    $$insert into procrastinate_jobs (queue_name, task_name, status, abort_requested)
      values ('default', 't', 'todo', true)$$,
    '23514', null,
    'a waiting job cannot have its abort requested'
);
select lives_ok(
    $$insert into procrastinate_jobs (queue_name, task_name, status, abort_requested)
      values ('default', 't', 'doing', true)$$,
    'a running job can have its abort requested'
);
select throws_ok(
    $$insert into procrastinate_jobs (queue_name, task_name) values ('default', '')$$,
    '23514', null,
    'the task name cannot be empty'
);
select throws_ok(
    $$insert into procrastinate_jobs (queue_name, task_name) values ('', 't')$$,
    '23514', null,
    'the queue name cannot be empty'
);
select throws_ok(
    $$insert into procrastinate_jobs (queue_name, task_name, args)
      values ('default', 't', '[1, 2]')$$,
    '23514', null,
    'args must be a JSON object'
);
select throws_ok(
    $$insert into procrastinate_jobs (queue_name, task_name, max_attempts)
      values ('default', 't', -1)$$,
    '23514', null,
    'max_attempts cannot be negative'
);
select throws_ok(
    $$insert into procrastinate_jobs (queue_name, task_name, retry_linear_wait)
      values ('default', 't', -0.5)$$,
    '23514', null,
    'retry waits cannot be negative'
);
select throws_ok(
    $$insert into procrastinate_migrations (number, name, phase, checksum)
      values (1, 'x', 'during', 'abc')$$,
    '23514', null,
    'a migration is pre or post'
);

select * from finish();
rollback;
