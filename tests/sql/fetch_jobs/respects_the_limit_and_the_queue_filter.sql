-- p_limit bounds how many jobs one call claims; p_queues restricts the
-- queues (null: all of them).
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

select count(*) as batch from procrastinate_defer_jobs($$[
    {"task_name": "a1", "queue_name": "q1"}, {"task_name": "a2", "queue_name": "q1"},
    {"task_name": "a3", "queue_name": "q1"}, {"task_name": "b1", "queue_name": "q2"},
    {"task_name": "b2", "queue_name": "q2"}, {"task_name": "c1", "queue_name": "q3"}
]$$) \gset

select results_eq(
    $$select task_name from procrastinate_fetch_jobs_v2(1, array['q2'], 10)$$,
    $$values ('b1'::text), ('b2'::text)$$,
    'a queue filter claims the jobs of that queue only'
);
select results_eq(
    $$select task_name from procrastinate_fetch_jobs_v2(1, array['q1'], 2)$$,
    $$values ('a1'::text), ('a2'::text)$$,
    'the limit bounds the claim'
);
select results_eq(
    $$select task_name from procrastinate_fetch_jobs_v2(1, array['q1', 'q3'], 1)$$,
    $$values ('a3'::text)$$,
    'several queues can be named; a limit of 1 claims one job'
);
select is_empty(
    $$select task_name from procrastinate_fetch_jobs_v2(1, array['nope'], 10)$$,
    'an unknown queue gives nothing'
);
select is_empty(
    $$select task_name from procrastinate_fetch_jobs_v2(1, array[]::text[], 10)$$,
    'an empty list of queues gives nothing'
);
select results_eq(
    $$select task_name from procrastinate_fetch_jobs_v2(1, null, 10)$$,
    $$values ('c1'::text)$$,
    'null queues claim from every queue'
);
select is(
    (
        select count(*)::integer from procrastinate_jobs
        where task_name ~ '^[abc][0-9]$' and status = 'doing'
    ),
    :batch::integer,
    'every job was claimed exactly once'
);

select * from finish();
rollback;
