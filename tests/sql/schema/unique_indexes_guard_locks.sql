-- The last guards of lock arbitration: at most one running job per lock and
-- one waiting job per queueing lock, whatever writes the rows.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

insert into procrastinate_jobs (queue_name, task_name, lock, status)
values ('default', 'first', 'L', 'doing');

select throws_ok(
    $$insert into procrastinate_jobs (queue_name, task_name, lock, status)
      values ('default', 'second', 'L', 'doing')$$,
    '23505', null,
    'a second running job with the same lock is refused'
);
select lives_ok(
    $$insert into procrastinate_jobs (queue_name, task_name, lock, status)
      values ('default', 'waiting', 'L', 'todo'), ('default', 'done', 'L', 'succeeded'),
             ('default', 'also done', 'L', 'succeeded')$$,
    'waiting and finished jobs may share the lock of a running job'
);
select lives_ok(
    $$insert into procrastinate_jobs (queue_name, task_name, lock, status)
      values ('default', 'other', 'M', 'doing')$$,
    'a running job with another lock is accepted'
);

insert into procrastinate_jobs (queue_name, task_name, queueing_lock, status)
values ('default', 'queued', 'Q', 'todo');

select throws_ok(
    $$insert into procrastinate_jobs (queue_name, task_name, queueing_lock, status)
      values ('default', 'queued again', 'Q', 'todo')$$,
    '23505', null,
    'a second waiting job with the same queueing lock is refused'
);
select lives_ok(
    $$insert into procrastinate_jobs (queue_name, task_name, queueing_lock, status)
      values ('default', 'running', 'Q', 'doing'), ('default', 'ran', 'Q', 'succeeded')$$,
    'running and finished jobs may share the queueing lock of a waiting job'
);
select throws_ok(
    format(
        $$insert into procrastinate_jobs (queue_name, task_name, lock, status)
          values ('default', 'long', %L, 'doing'), ('default', 'long too', %L, 'doing')$$,
        repeat('x', 10000), repeat('x', 10000)
    ),
    '23505', null,
    'locks longer than a btree entry are compared too'
);

select * from finish();
rollback;
