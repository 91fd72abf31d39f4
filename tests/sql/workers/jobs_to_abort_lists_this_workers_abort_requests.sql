-- Workers confirm an abort notification here: the running jobs of this
-- worker whose abort was requested, and nothing else.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

select procrastinate_defer_job('a1', queue_name => 'one') as a1 \gset
select procrastinate_defer_job('a2', queue_name => 'one') as a2 \gset
select procrastinate_defer_job('a3', queue_name => 'one') as a3 \gset
select procrastinate_defer_job('b1', queue_name => 'two') as b1 \gset
select count(*) as claimed_one from procrastinate_fetch_jobs_v2(1, array['one'], 10) \gset
select count(*) as claimed_two from procrastinate_fetch_jobs_v2(2, array['two'], 10) \gset

select is_empty(
    'select * from procrastinate_jobs_to_abort_v1(1)',
    'nothing to abort before any request'
);

select procrastinate_cancel_job(:a1, abort => true) as r1 \gset
select procrastinate_cancel_job(:a3, abort => true) as r3 \gset
select procrastinate_cancel_job(:b1, abort => true) as rb \gset

select results_eq(
    'select * from procrastinate_jobs_to_abort_v1(1)',
    format('values (%s::bigint), (%s::bigint)', :a1, :a3),
    'worker 1 gets its two abort-requested jobs, in id order'
);
select results_eq(
    'select * from procrastinate_jobs_to_abort_v1(2)',
    format('values (%s::bigint)', :b1),
    'worker 2 gets its own'
);
select is_empty(
    'select * from procrastinate_jobs_to_abort_v1(3)',
    'a worker holding nothing gets nothing'
);

select * from finish();
rollback;
