-- procrastinate_remove_old_jobs deletes at most max_jobs jobs per call, whatever
-- plan the planner picks (the ids are chosen once, then deleted).
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(2);

insert into procrastinate_jobs (queue_name, task_name, status, finished_at)
select
    'old' as queue_name,
    't' as task_name,
    'succeeded'::procrastinate_job_status as status,
    now() - interval '2 hours' as finished_at
from generate_series(1, 10);

-- the plan PostgreSQL picks for this query on a table with few (or
-- underestimated) rows
set local enable_hashjoin = off;
set local enable_mergejoin = off;
set local enable_hashagg = off;
set local enable_material = off;
set local enable_sort = off;

select is(
    procrastinate_remove_old_jobs(1, max_jobs => 3), 3,
    'max_jobs 3 removes 3 jobs (got 10)'
);
select is(
    (select count(*)::integer from procrastinate_jobs where queue_name = 'old'), 7,
    '7 jobs are left for the next call (got 0)'
);

select * from finish();
rollback;
