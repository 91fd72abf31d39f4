-- procrastinate_retry_failed_jobs puts the failed jobs of a queue and/or a
-- task (null: any) back in todo, due now, and returns how many.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

insert into procrastinate_jobs (queue_name, task_name, status, worker_id, finished_at, scheduled_at)
values
('rq1', 'ra', 'failed', 1, now(), now() - interval '1 day'),
('rq1', 'rb', 'failed', 1, now(), null),
('rq2', 'ra', 'failed', 1, now(), null),
('rq1', 'ra', 'succeeded', 1, now(), null);

select is(
    procrastinate_retry_failed_jobs('rq1', 'ra'), 1,
    'queue and task: one job'
);
select results_eq(
    $$select status, scheduled_at, finished_at, worker_id from procrastinate_jobs
      where queue_name = 'rq1' and task_name = 'ra' order by id$$,
    $$values ('todo'::procrastinate_job_status, null::timestamptz, null::timestamptz,
              null::bigint),
             ('succeeded', null, now(), 1)$$,
    'the failed job is due now without worker; the succeeded one is untouched'
);
select is(
    procrastinate_retry_failed_jobs(task_name => 'ra'), 1,
    'task only: the failed job of the other queue'
);
select is(procrastinate_retry_failed_jobs(), 1, 'no filter: the last failed job');
select is(procrastinate_retry_failed_jobs(), 0, 'nothing is left to retry');
select is(
    (
        select count(*)::integer from procrastinate_jobs
        where task_name in ('ra', 'rb') and status = 'todo'
    ),
    3,
    'the three failed jobs wait again'
);
select is(
    (
        select count(*)::integer from procrastinate_events as e
        inner join procrastinate_jobs as j on e.job_id = j.id
        where j.task_name in ('ra', 'rb') and e.type = 'retried'
    ),
    3,
    'each got a retried event'
);

select * from finish();
rollback;
