-- Jobs sharing a lock start in priority then id order, whatever order the
-- fetch would otherwise give, and even when fetched one queue at a time.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

select procrastinate_defer_job('x1', lock => 'L', priority => 0, queue_name => 'q1') as x1 \gset
select procrastinate_defer_job('x2', lock => 'L', priority => 10, queue_name => 'q2') as x2 \gset
select procrastinate_defer_job('x3', lock => 'L', priority => 10, queue_name => 'q1') as x3 \gset

select is_empty(
    $$select id from procrastinate_fetch_jobs_v2(1, array['q1'], 10)$$,
    'the jobs of q1 wait: x2, of another queue, comes first for the lock'
);
select results_eq(
    'select id from procrastinate_fetch_jobs_v2(1, null, 10)',
    format('values (%s::bigint)', :x2),
    'the highest priority, oldest job of the lock starts first'
);
select is(
    (
        select f.accepted from procrastinate_finish_jobs_v1(
            1, format('[{"id": %s, "status": "succeeded"}]', :x2)::jsonb
        ) as f
    ),
    true,
    'x2 ends'
);
select results_eq(
    'select id from procrastinate_fetch_jobs_v2(1, null, 10)',
    format('values (%s::bigint)', :x3),
    'then the other priority 10 job'
);
select is(
    (
        select f.accepted from procrastinate_finish_jobs_v1(
            1, format('[{"id": %s, "status": "failed"}]', :x3)::jsonb
        ) as f
    ),
    true,
    'x3 ends'
);
select results_eq(
    'select id from procrastinate_fetch_jobs_v2(1, null, 10)',
    format('values (%s::bigint)', :x1),
    'then the priority 0 job'
);
select is(
    (select array_agg(status::text order by id) from procrastinate_jobs where lock = 'L'),
    array['doing', 'succeeded', 'failed'],
    'each job of the lock ran in turn'
);

select * from finish();
rollback;
