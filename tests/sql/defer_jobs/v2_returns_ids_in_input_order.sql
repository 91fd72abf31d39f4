-- procrastinate_defer_jobs_v2, the driver's insert path: ids in input
-- order; explicit nulls mean the defaults.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

create temporary table batch as
select
    d.id,
    d.ord
from procrastinate_defer_jobs_v2(
    $$[{"task_name": "z", "priority": 9},
       {"task_name": "y", "args": null, "queue_name": null, "priority": null, "lock": null,
        "queueing_lock": null, "scheduled_at": null, "max_attempts": null,
        "retry_wait": null, "retry_linear_wait": null, "retry_exponential_wait": null,
        "retry_exceptions": null},
       {"task_name": "x", "max_attempts": 0, "retry_linear_wait": 1.25,
        "retry_exponential_wait": 2}]$$
) with ordinality as d (id, ord);

select is(
    (
        select array_agg(j.task_name order by b.ord)
        from batch as b inner join procrastinate_jobs as j using (id)
    ),
    array['z', 'y', 'x'],
    'the ids come back in input order'
);
select results_eq(
    $$select j.args, j.queue_name, j.priority, j.max_attempts, j.retry_wait,
             j.retry_linear_wait, j.retry_exponential_wait, j.retry_exceptions
      from batch as b inner join procrastinate_jobs as j using (id) where b.ord = 2$$,
    $$values (
        '{}'::jsonb, 'default'::text, 0, null::integer, 0::float8, 0::float8, 0::float8,
        null::text[]
    )$$,
    'explicit nulls take the defaults'
);
select results_eq(
    $$select j.max_attempts, j.retry_linear_wait, j.retry_exponential_wait
      from batch as b inner join procrastinate_jobs as j using (id) where b.ord = 3$$,
    $$values (0, 1.25::float8, 2::float8)$$,
    'max_attempts 0 (no limit) and fractional waits are stored'
);
select is(
    (
        select count(*)::integer
        from procrastinate_events as e inner join batch as b on e.job_id = b.id
        where e.type = 'deferred'
    ),
    3,
    'each job gets its deferred event'
);

select * from finish();
rollback;
