-- A limit that is not a positive number of jobs is refused with PT001 and
-- claims nothing.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(5);

select procrastinate_defer_job('waiting') as waiting \gset

select throws_ok(
    'select * from procrastinate_fetch_jobs_v2(1, null, 0)',
    'PT001', 'p_limit must be a positive number of jobs, got 0',
    'a limit of 0 is refused'
);
select throws_ok(
    'select * from procrastinate_fetch_jobs_v2(1, null, -1)',
    'PT001', null,
    'a negative limit is refused'
);
select throws_ok(
    'select * from procrastinate_fetch_jobs_v2(1, null, null)',
    'PT001', null,
    'a null limit is refused'
);
select throws_ok(
    'select * from procrastinate_fetch_jobs(max_jobs => 0)',
    'PT001', null,
    'the user-facing fetch refuses max_jobs 0'
);
select is(
    procrastinate_get_job_status(:waiting), 'todo'::procrastinate_job_status,
    'nothing was claimed'
);

select * from finish();
rollback;
