-- procrastinate_finish_job raises instead of returning a reason: PT003 for
-- an unknown job, PT004 for a job the caller does not hold (the message
-- tells its status) or a status that is not an outcome.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

select procrastinate_defer_job('held') as held \gset
select procrastinate_defer_job('waiting', queue_name => 'other') as waiting \gset
select max(id) + 1000 as unknown from procrastinate_jobs \gset
select count(*) as claimed from procrastinate_fetch_jobs(array['default'], 1, 5) \gset

select throws_ok(
    format('select procrastinate_finish_job(%s, %L)', :unknown, 'succeeded'),
    'PT003', format('job %s does not exist', :unknown),
    'an unknown job raises PT003'
);
select throws_ok(
    format('select procrastinate_finish_job(%s, %L, worker_id => 6)', :held, 'succeeded'),
    'PT004',
    format(
        'job %s is not held by worker 6 at attempt any: its status is doing',
        :held
    ),
    'a job held by another worker raises PT004, telling its status only'
);
select throws_ok(
    format(
        'select procrastinate_finish_job(%s, %L, worker_id => 5, attempt => 2)', :held, 'succeeded'
    ),
    'PT004', null,
    'a stale attempt raises PT004'
);
select throws_ok(
    format('select procrastinate_finish_job(%s, %L)', :waiting, 'succeeded'),
    'PT004',
    format(
        'job %s is not held by worker null at attempt any: its status is todo',
        :waiting
    ),
    'a waiting job raises PT004'
);
select throws_ok(
    format('select procrastinate_finish_job(%s, %L, worker_id => 5)', :held, 'done'),
    'PT004', null,
    'a status that is not an outcome raises PT004'
);
select results_eq(
    format('select status, worker_id, attempts from procrastinate_jobs where id = %s', :held),
    $$values ('doing'::procrastinate_job_status, 5::bigint, 0)$$,
    'the held job is unchanged'
);

select * from finish();
rollback;
