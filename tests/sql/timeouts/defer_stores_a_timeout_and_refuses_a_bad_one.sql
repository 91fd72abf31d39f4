-- A timeout is a number of seconds above 0, at most 1e9: stored with the job
-- (job objects and procrastinate_defer_job); anything else is PT001 and
-- nothing is written.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(9);

select procrastinate_defer_job('t', timeout => 0.25) as named \gset
select id as batched from procrastinate_defer_jobs_v2('[{"task_name": "t", "timeout": 120}]') \gset
select procrastinate_defer_job('t') as none \gset

select results_eq(
    format(
        'select timeout from procrastinate_jobs where id in (%s, %s, %s) order by id',
        :named, :batched, :none
    ),
    $$values (0.25::double precision), (120::double precision), (null::double precision)$$,
    'the timeout is stored as given, null without one'
);
select count(*) as before from procrastinate_jobs \gset

select throws_ok(
    $$select procrastinate_defer_job('t', timeout => 0)$$,
    'PT001',
    'job #1 of 1 is invalid: it has a timeout that is not a number of seconds above 0, at most 1e9',
    'a timeout of 0 is refused'
);
select throws_ok(
    $$select procrastinate_defer_job('t', timeout => -1)$$,
    'PT001', null, 'a negative timeout is refused'
);
select throws_ok(
    $$select procrastinate_defer_job('t', timeout => 'NaN')$$,
    'PT001', null, 'NaN is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs_v2('[{"task_name": "t", "timeout": "10"}]')$$,
    'PT001', null, 'a timeout in a string is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs_v2('[{"task_name": "t", "timeout": 1e10}]')$$,
    'PT001', null, 'a timeout over 1e9 is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs_v2(
        '[{"task_name": "t"}, {"task_name": "t", "timeout": false}]'
    )$$,
    'PT001', null, 'a timeout that is a boolean is refused, the whole batch with it'
);
select lives_ok(
    $$select * from procrastinate_defer_jobs_v2('[{"task_name": "t", "timeout": null}]')$$,
    'a null timeout is no timeout'
);
select is(
    (select count(*) from procrastinate_jobs),
    :before::bigint + 1,
    'only the valid defer wrote a job'
);

select * from finish();
rollback;
