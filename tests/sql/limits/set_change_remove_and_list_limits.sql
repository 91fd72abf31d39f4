-- Limits are set, changed and removed from psql or by a worker (its tasks'
-- limits), and listed with their use in procrastinate_limit_stats.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

select procrastinate_register_worker_v2('w', null, 10, 'h', 1) as w \gset
select procrastinate_set_limit(queue_name => 'emails', concurrency => 5);
select procrastinate_set_limit(queue_name => 'emails', concurrency => 1);
select procrastinate_set_limit(limit_key => 'tenant:42', concurrency => 2);
select procrastinate_set_limit(task_name => 'report', concurrency => 7);
select procrastinate_register_limits_v1('{"task": {"send": 3, "report": 4}}');

select results_eq(
    'select scope, name, concurrency from procrastinate_limits order by scope, name',
    $$values ('key', 'tenant:42', 2), ('queue', 'emails', 1), ('task', 'report', 4),
             ('task', 'send', 3)$$,
    'setting a limit again changes it; a worker''s task limits win over psql''s'
);

select procrastinate_defer_job('send', queue_name => 'emails') as e1 \gset
select procrastinate_defer_job('send', queue_name => 'emails') as e2 \gset
select procrastinate_defer_job('send', queue_name => 'emails') as e3 \gset
select procrastinate_defer_job('other', limit_key => 'tenant:42') as t1 \gset
select count(*) as claimed from procrastinate_fetch_jobs_v4(:w, null, 10) \gset

select results_eq(
    $$select scope, name, concurrency, in_use, waiting, held_back
      from procrastinate_limit_stats order by scope, name$$,
    $$values ('key', 'tenant:42', 2, 1::bigint, 0::bigint, 0::bigint),
             ('queue', 'emails', 1, 1::bigint, 2::bigint, 2::bigint),
             ('task', 'report', 4, 0::bigint, 0::bigint, 0::bigint),
             ('task', 'send', 3, 1::bigint, 2::bigint, 0::bigint)$$,
    'the view shows each limit, the jobs running under it, waiting, and held back by it'
);
select is(
    (select limit_key from procrastinate_jobs where id = :t1), 'tenant:42',
    'the job carries the limit key given at defer'
);
select lives_ok(
    $$select procrastinate_register_limits_v1('{"task": {"send": 3}}')$$,
    'registering limits already in place again changes nothing'
);

select procrastinate_remove_limit(queue_name => 'emails');
select is(
    (select count(*)::integer from procrastinate_fetch_jobs_v4(:w, null, 10)), 2,
    'once the queue''s limit is removed, the task limit of 3 lets 2 more start'
);
select results_eq(
    'select scope, name from procrastinate_limit_stats order by scope, name',
    $$values ('key', 'tenant:42'), ('task', 'report'), ('task', 'send')$$,
    'a removed limit is no longer listed'
);

select * from finish();
rollback;
