-- p_slots: a job under a limit is claimed only among the first p_slots jobs
-- of a claim (those the worker starts at once), never to wait in a
-- worker's prefetch buffer; jobs without a limit fill the rest. The claims
-- of older drivers (v3, v2, the user-facing fetch) start all they claim.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

select procrastinate_register_worker_v2('w', null, 4, 'h', 1) as w \gset
select procrastinate_set_limit(queue_name => 'limited', concurrency => 10);
select procrastinate_defer_job('t', queue_name => 'free', priority => 9) as f1 \gset
select procrastinate_defer_job('t', queue_name => 'limited', priority => 5) as l1 \gset
select procrastinate_defer_job('t', queue_name => 'limited', priority => 5) as l2 \gset
select procrastinate_defer_job('t', queue_name => 'free', priority => 1) as f2 \gset

select results_eq(
    format('select id from procrastinate_fetch_jobs_v4(%s, null, 4, p_slots => 2)', :w),
    format('values (%s::bigint), (%s::bigint), (%s::bigint)', :f1, :l1, :f2),
    'with 2 slots free, the limited job ranked third is left for a later claim'
);
select is_empty(
    format('select * from procrastinate_fetch_jobs_v4(%s, null, 4, p_slots => 0)', :w),
    'a claim for the prefetch buffer only takes no limited job'
);
select results_eq(
    format('select id from procrastinate_fetch_jobs_v3(%s, null, 4)', :w),
    format('values (%s::bigint)', :l2),
    'the claim of older drivers starts every job it claims'
);
select results_eq(
    $$select in_use from procrastinate_limit_stats$$,
    $$values (2::bigint)$$,
    'both limited jobs run, counted by the limit'
);

select * from finish();
rollback;
