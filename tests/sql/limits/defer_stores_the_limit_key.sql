-- A job carries the limit key given at defer (procrastinate_defer_job's
-- limit_key, a job object's "limit_key"); one that is not a non-empty string
-- is refused with PT001 and nothing is written.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

select procrastinate_defer_job('t', limit_key => 'tenant:42') as one \gset
select count(*) as deferred
from procrastinate_defer_jobs(
    '[{"task_name": "t", "limit_key": "tenant:7"}, {"task_name": "t"}]'
) \gset

select results_eq(
    'select limit_key from procrastinate_jobs order by id',
    $$values ('tenant:42'), ('tenant:7'), (null)$$,
    'the jobs carry the key they were deferred with'
);
select throws_ok(
    $$select procrastinate_defer_jobs('[{"task_name": "t", "limit_key": 42}]')$$,
    'PT001', 'job #1 of 1 is invalid: it has a limit_key that is not a non-empty string',
    'a key that is not a string is refused'
);
select throws_ok(
    $$select procrastinate_defer_job('t', limit_key => '')$$,
    'PT001', 'job #1 of 1 is invalid: it has a limit_key that is not a non-empty string',
    'an empty key is refused'
);
select is((select count(*)::integer from procrastinate_jobs), 3, 'nothing more was written');

select * from finish();
rollback;
