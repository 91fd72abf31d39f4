-- Numbers too large for their column are refused with PT001, not a raw
-- overflow error.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(1);

select throws_ok(
    $$select * from procrastinate_defer_jobs_v2('[{"task_name": "a", "retry_wait": 1e400}]')$$,
    'PT001', null,
    'a retry wait too large for double precision is refused with PT001'
);

select * from finish();
rollback;
