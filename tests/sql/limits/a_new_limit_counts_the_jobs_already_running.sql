-- A limit set while jobs run counts them at once: with 3 running and a new
-- limit of 2, nothing more starts until 2 of them ended.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(3);

select procrastinate_register_worker_v2('w', null, 10, 'h', 1) as w \gset
select procrastinate_defer_job('t', queue_name => 'q') from generate_series(1, 6);
select count(*) as started from procrastinate_fetch_jobs_v4(:w, null, 3) \gset
select procrastinate_set_limit(task_name => 't', concurrency => 2);

select is_empty(
    format('select * from procrastinate_fetch_jobs_v4(%s, null, 10)', :w),
    'three run, over the new limit of 2: nothing starts'
);
select procrastinate_finish_job(id, 'succeeded', worker_id => :w)
from procrastinate_jobs where status = 'doing'
order by id limit 1;
select is_empty(
    format('select * from procrastinate_fetch_jobs_v4(%s, null, 10)', :w),
    'two run: still nothing starts'
);
select procrastinate_finish_job(id, 'succeeded', worker_id => :w)
from procrastinate_jobs where status = 'doing'
order by id limit 1;
select is(
    (select count(*)::integer from procrastinate_fetch_jobs_v4(:w, null, 10)), 1,
    'one runs: one more starts'
);

select * from finish();
rollback;
