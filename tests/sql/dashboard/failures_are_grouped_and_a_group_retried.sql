-- procrastinate_failure_groups_v1 groups failed jobs by task and error type
-- (the exception's class, null when none was sent), with the latest failure
-- as example; procrastinate_retry_failure_group_v1 retries one group only.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(5);

insert into procrastinate_jobs (
    queue_name, task_name, status, last_error, last_error_types, finished_at
)
values
('fq', 'ft', 'failed', 'boom 1', array['ValueError', 'Exception'], now() - interval '2 minutes'),
('fq', 'ft', 'failed', 'boom 2', array['ValueError', 'Exception'], now() - interval '1 minute'),
('fq', 'ft', 'failed', 'key', array['KeyError', 'LookupError'], now()),
('fq', 'fu', 'failed', null, null, now()),
('fq', 'ft', 'succeeded', null, array['ValueError'], now());

select results_eq(
    $$select task_name, error_type, jobs, last_error from procrastinate_failure_groups_v1()$$,
    $$values ('ft', 'KeyError', 1::bigint, 'key'), ('ft', 'ValueError', 2, 'boom 2'),
             ('fu', null, 1, null)$$,
    'one row per task and error type, the latest failure as example'
);
select is(
    procrastinate_retry_failure_group_v1('ft', 'ValueError'), 2,
    'the group''s two jobs are retried'
);
select results_eq(
    $$select status::text from procrastinate_jobs where task_name = 'ft' order by id$$,
    $$values ('todo'), ('todo'), ('failed'), ('succeeded')$$,
    'only that group went back to todo'
);
select is(procrastinate_retry_failure_group_v1('fu', null), 1, 'a group without error type');
select is(procrastinate_retry_failure_group_v1('ft', 'ValueError'), 0, 'nothing left to retry');

select * from finish();
rollback;
