-- A lagging worker's tick, older than the latest deferred one, yields no job:
-- each tick gives exactly one job even when only the latest is remembered.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(2);

select procrastinate_defer_periodic_job_v1('p', '', 100, '{"task_name": "p"}') as t100 \gset
select procrastinate_defer_periodic_job_v1('p', '', 200, '{"task_name": "p"}') as t200 \gset

select is(
    procrastinate_defer_periodic_job_v1('p', '', 100, '{"task_name": "p"}'), null,
    'a tick older than the latest deferred one is not deferred again'
);
select is(
    (select count(*)::integer from procrastinate_jobs where task_name = 'p'), 2,
    'two ticks, two jobs'
);

select * from finish();
rollback;
