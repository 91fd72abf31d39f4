-- procrastinate_remove_old_jobs deletes jobs finished more than max_hours
-- ago, of the given statuses (default succeeded) and queue, with their
-- events; never waiting or running jobs. (max_jobs is not tested here: the
-- bound depends on the query plan, see the report of the pgTAP suite.)
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(10);

insert into procrastinate_jobs (queue_name, task_name, status, finished_at, created_at)
values
('oq1', 'old_ok', 'succeeded', now() - interval '2 hours', now() - interval '3 hours'),
('oq1', 'old_ok', 'succeeded', now() - interval '3 hours', now() - interval '4 hours'),
('oq2', 'old_ok', 'succeeded', now() - interval '5 hours', now() - interval '6 hours'),
('oq1', 'new_ok', 'succeeded', now() - interval '30 minutes', now() - interval '1 hour'),
('oq1', 'old_ko', 'failed', now() - interval '2 hours', now() - interval '3 hours'),
('oq1', 'old_cancel', 'cancelled', now() - interval '2 hours', now() - interval '3 hours'),
('oq1', 'old_todo', 'todo', null, now() - interval '9 hours'),
('oq1', 'old_doing', 'doing', null, now() - interval '9 hours');

select throws_ok(
    'select procrastinate_remove_old_jobs(-1)',
    'PT001', 'max_hours must be zero or more, got -1',
    'a negative max_hours is refused'
);
select throws_ok(
    'select procrastinate_remove_old_jobs(null)', 'PT001', null, 'a null max_hours is refused'
);
select throws_ok(
    $$select procrastinate_remove_old_jobs(1, statuses => array['succeeded', 'todo'])$$,
    'PT001',
    'statuses: cannot remove jobs of status todo: only succeeded, failed, cancelled or aborted',
    'waiting jobs cannot be removed'
);
select throws_ok(
    $$select procrastinate_remove_old_jobs(1, statuses => array['doing'])$$,
    'PT001', null,
    'running jobs cannot be removed'
);
select is(
    procrastinate_remove_old_jobs(1, queue_name => 'oq1'), 2,
    'the two old successes of the queue are removed'
);
select is(
    (select count(*)::integer from procrastinate_jobs where task_name = 'old_ok'), 1,
    'the old success of the other queue is kept'
);
select is(procrastinate_remove_old_jobs(1), 1, 'without queue, every queue');
select is(
    procrastinate_remove_old_jobs(1, statuses => array['failed', 'cancelled']), 2,
    'other finished statuses are removed when named'
);
select is(
    (
        select array_agg(task_name order by id) from procrastinate_jobs
        where queue_name in ('oq1', 'oq2')
    ),
    array['new_ok', 'old_todo', 'old_doing'],
    'recent, waiting and running jobs remain'
);
select is(
    (
        select count(*)::integer from procrastinate_events as e
        where not exists (select 1 from procrastinate_jobs as j where j.id = e.job_id)
    ),
    0,
    'no event of a removed job remains'
);

select * from finish();
rollback;
