-- Each tick of a periodic task yields one job however many workers try;
-- only the latest tick of each task is remembered.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(9);

select procrastinate_defer_periodic_job_v1(
    'report', 'daily', 1000, '{"task_name": "report", "args": {"timestamp": 1000}}'
) as tick_1000 \gset

select results_eq(
    format('select task_name, args, status from procrastinate_jobs where id = %s', :tick_1000),
    $$values ('report'::text, '{"timestamp": 1000}'::jsonb, 'todo'::procrastinate_job_status)$$,
    'the job of the tick is deferred from the job object'
);
select is(
    procrastinate_defer_periodic_job_v1(
        'report', 'daily', 1000, '{"task_name": "report", "args": {"timestamp": 1000}}'
    ),
    null,
    'deferring the same tick again returns null'
);
select is(
    (select count(*)::integer from procrastinate_jobs where task_name = 'report'), 1,
    'and defers nothing'
);
select isnt(
    procrastinate_defer_periodic_job_v1('report', 'weekly', 1000, '{"task_name": "report"}'),
    null,
    'another periodic id of the same task has its own ticks'
);

select procrastinate_defer_periodic_job_v1(
    'report', 'daily', 2000, '{"task_name": "report", "args": {"timestamp": 2000}}'
) as tick_2000 \gset

select cmp_ok(:tick_2000::bigint, '>', :tick_1000::bigint, 'the next tick defers a new job');
select results_eq(
    $$select defer_timestamp, job_id from procrastinate_periodic_defers
      where task_name = 'report' and periodic_id = 'daily'$$,
    format('values (2000::bigint, %s::bigint)', :tick_2000),
    'only the latest tick of the task is remembered, with its job'
);
select results_eq(
    $$select task_name, periodic_id, defer_timestamp from procrastinate_last_periodic_ticks_v1()
      where task_name = 'report' order by periodic_id$$,
    $$values ('report'::text, 'daily'::text, 2000::bigint), ('report', 'weekly', 1000)$$,
    'the last tick of each periodic task is listed'
);
select isnt(
    procrastinate_defer_periodic_job_v1('cleanup', null, 5, '{"task_name": "cleanup"}'),
    null,
    'a null periodic id is accepted'
);
select is(
    (select periodic_id from procrastinate_last_periodic_ticks_v1() where task_name = 'cleanup'),
    '',
    'and recorded as the empty periodic id'
);

select * from finish();
rollback;
