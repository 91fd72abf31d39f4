-- A key whose limit is full with hundreds of jobs ahead in claim order does
-- not hide the jobs of other keys behind them: the claim looks further back.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(3);

select procrastinate_register_worker_v2('w', null, 10, 'h', 1) as w \gset
select procrastinate_set_limit(limit_key => 'tenant:1', concurrency => 1);
select count(*) as flood
from (
    select procrastinate_defer_job('t', limit_key => 'tenant:1')
    from generate_series(1, 300)
) as d \gset
select procrastinate_defer_job('t', limit_key => 'tenant:2') as other_1 \gset
select procrastinate_defer_job('t') as other_2 \gset

select results_eq(
    format(
        $$select limit_key, count(*)::integer
          from procrastinate_fetch_jobs_v4(%s, null, 10) as f
          inner join procrastinate_jobs as j on f.id = j.id
          group by limit_key order by limit_key$$,
        :w
    ),
    $$values ('tenant:1', 1), ('tenant:2', 1), (null, 1)$$,
    'one job of the full key, and the jobs of others found behind its 300'
);
select is_empty(
    format('select * from procrastinate_fetch_jobs_v4(%s, null, 10)', :w),
    'then nothing more: the full key holds its jobs back'
);
select is(
    (select count(*)::integer from procrastinate_jobs where status = 'doing'), 3,
    'three jobs run'
);

select * from finish();
rollback;
