-- procrastinate_defer_jobs inserts a JSON array of job objects and returns
-- the new ids in input order, each job with its own keys.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

create temporary table batch as
select
    d.id,
    d.ord
from procrastinate_defer_jobs(
    $$[{"task_name": "a"},
       {"task_name": "b", "args": {"x": 1}, "queue_name": "mail", "priority": 3},
       {"task_name": "c", "lock": "user:1", "max_attempts": 2, "retry_wait": 5,
        "retry_exceptions": ["OSError"], "scheduled_at": "2030-01-01T00:00:00+00:00"}]$$
) with ordinality as d (id, ord);

select is((select count(*)::integer from batch), 3, 'one id per job object');
select is(
    (
        select array_agg(j.task_name order by b.ord)
        from batch as b inner join procrastinate_jobs as j using (id)
    ),
    array['a', 'b', 'c'],
    'the ids come back in input order'
);
select is(
    (select array_agg(b.id order by b.ord) from batch as b),
    (select array_agg(b.id order by b.id) from batch as b),
    'ids increase in input order'
);
select results_eq(
    $$select j.args, j.queue_name, j.priority, j.status
      from batch as b inner join procrastinate_jobs as j using (id) where b.ord = 1$$,
    $$values ('{}'::jsonb, 'default'::text, 0, 'todo'::procrastinate_job_status)$$,
    'a job object with only a task name takes the defaults'
);
select results_eq(
    $$select j.args, j.queue_name, j.priority
      from batch as b inner join procrastinate_jobs as j using (id) where b.ord = 2$$,
    $$values ('{"x": 1}'::jsonb, 'mail'::text, 3)$$,
    'args, queue and priority of a job object are stored'
);
select results_eq(
    $$select j.lock, j.max_attempts, j.retry_wait, j.retry_exceptions, j.scheduled_at
      from batch as b inner join procrastinate_jobs as j using (id) where b.ord = 3$$,
    $$values (
        'user:1'::text, 2, 5::float8, array['OSError'],
        '2030-01-01 00:00:00+00'::timestamptz
    )$$,
    'lock, retry policy and schedule of a job object are stored'
);
select is_empty(
    $$select * from procrastinate_defer_jobs('[]')$$,
    'an empty array defers nothing and returns no id'
);

select * from finish();
rollback;
