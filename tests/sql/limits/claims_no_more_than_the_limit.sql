-- The claim starts at most a limit's number of jobs of a queue, a task or a
-- limit key, counting those already running; it claims the jobs no limit
-- holds back, highest priority first, and a job under several limits only
-- when all have room. Limit 0 holds every job back.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(8);

select procrastinate_register_worker_v2('w', null, 50, 'h', 1) as w \gset

select procrastinate_set_limit(queue_name => 'q', concurrency => 2);
select procrastinate_defer_job('t', queue_name => 'q', priority => 1) as q1 \gset
select procrastinate_defer_job('t', queue_name => 'q', priority => 5) as q2 \gset
select procrastinate_defer_job('t', queue_name => 'q', priority => 3) as q3 \gset
select procrastinate_defer_job('free', queue_name => 'other') as free1 \gset

select results_eq(
    format('select id from procrastinate_fetch_jobs_v4(%s, null, 10) order by id', :w),
    format('values (%s::bigint), (%s::bigint), (%s::bigint)', :q2, :q3, :free1),
    'a queue limit of 2 starts the 2 jobs of highest priority; other queues run freely'
);
select is_empty(
    format('select * from procrastinate_fetch_jobs_v4(%s, array[%L], 10)', :w, 'q'),
    'the queue is full: nothing more is claimed from it'
);
select procrastinate_finish_job(:q2, 'succeeded', worker_id => :w) as done \gset
select results_eq(
    format('select id from procrastinate_fetch_jobs_v4(%s, null, 10)', :w),
    format('values (%s::bigint)', :q1),
    'a job that ended frees its slot'
);

select procrastinate_set_limit(limit_key => 'tenant:1', concurrency => 1);
select procrastinate_set_limit(task_name => 'heavy', concurrency => 2);
select procrastinate_defer_job('heavy', queue_name => 'k', limit_key => 'tenant:1') as k1 \gset
select procrastinate_defer_job('heavy', queue_name => 'k', limit_key => 'tenant:1') as k2 \gset
select procrastinate_defer_job('heavy', queue_name => 'k', limit_key => 'tenant:2') as k3 \gset
select procrastinate_defer_job('heavy', queue_name => 'k', limit_key => 'tenant:2') as k4 \gset
select procrastinate_defer_job('light', queue_name => 'k', limit_key => 'tenant:1') as k5 \gset
select results_eq(
    format('select id from procrastinate_fetch_jobs_v4(%s, array[%L], 10) order by id', :w, 'k'),
    format('values (%s::bigint), (%s::bigint)', :k1, :k3),
    'a key limit of 1 and a task limit of 2: one job of tenant:1, and a job under both limits '
    || 'only while both have room'
);
select results_eq(
    $$select name, in_use from procrastinate_limit_stats where scope <> 'queue' order by name$$,
    $$values ('heavy', 2::bigint), ('tenant:1', 1::bigint)$$,
    'no limit is exceeded'
);

select procrastinate_set_limit(queue_name => 'held', concurrency => 0);
select procrastinate_defer_job('t', queue_name => 'held') as h1 \gset
select is_empty(
    format('select * from procrastinate_fetch_jobs_v4(%s, array[%L], 10)', :w, 'held'),
    'a limit of 0 holds every job back'
);
select results_eq(
    $$select id, limited from procrastinate_jobs where status = 'doing' order by id$$,
    format(
        'values (%s::bigint, true), (%s, true), (%s, false), (%s, true), (%s, true)',
        :q1, :q3, :free1, :k1, :k3
    ),
    'jobs started under a limit are marked limited, the others not'
);
select procrastinate_remove_limit(queue_name => 'held');
select results_eq(
    format('select id from procrastinate_fetch_jobs_v4(%s, array[%L], 10)', :w, 'held'),
    format('values (%s::bigint)', :h1),
    'once the limit is removed the job is claimed'
);

select * from finish();
rollback;
