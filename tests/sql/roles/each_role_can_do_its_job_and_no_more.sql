-- The least-privilege script (sql/optional/roles.sql) lets the producer defer
-- and read a status but nothing else, and the worker run jobs but not ops.
begin;
create extension if not exists pgtap;
\ir ../../../sql/optional/roles.sql
select plan(9);

select procrastinate_defer_job('seed', '{"secret": "s3cr3t"}') as seed_id \gset

set local role procrastinate_producer;

select isnt(
    procrastinate_defer_job('mail', '{"to": "a@b.c"}'), null,
    'the producer defers a job'
);
select is(
    procrastinate_get_job_status(:seed_id), 'todo'::procrastinate_job_status,
    'the producer reads the status of a job'
);
select throws_ok(
    'select args from procrastinate_jobs', '42501', null,
    'the producer cannot read jobs and their args'
);
select throws_ok(
    format('select procrastinate_cancel_job(%s)', :seed_id), '42501', null,
    'the producer cannot cancel'
);
select throws_ok(
    'update procrastinate_jobs set status = ''failed''', '42501', null,
    'the producer cannot change statuses'
);
select throws_ok(
    'select * from procrastinate_fetch_jobs_v1(null, null, 1)', '42501', null,
    'the producer cannot fetch jobs'
);

reset role;
set local role procrastinate_worker;

select is(
    (select count(*)::integer from procrastinate_fetch_jobs_v1(null, null, 10)), 2,
    'the worker fetches jobs'
);
select throws_ok(
    'select procrastinate_pause_queue(''default'')', '42501', null,
    'the worker cannot pause queues'
);

reset role;
set local role procrastinate_operator;

select is(
    procrastinate_pause_queue('default'), true,
    'the operator pauses a queue'
);

select * from finish();
rollback;
