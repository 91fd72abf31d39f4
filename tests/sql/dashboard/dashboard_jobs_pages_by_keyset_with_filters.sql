-- procrastinate_dashboard_jobs_v1 gives a page of jobs, newest first, the
-- next page starting below the last id shown; each filter narrows it; the
-- page size is bounded (PT001).
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

insert into procrastinate_jobs (queue_name, task_name, status, lock, worker_id)
select
    case when i % 2 = 0 then 'dq_even' else 'dq_odd' end as queue_name,
    'dt' || (i % 3) as task_name,
    case when i <= 3 then 'failed' else 'todo' end::procrastinate_job_status as status,
    case when i = 5 then 'dl' end as lock,
    case when i = 6 then 77 end as worker_id
from generate_series(1, 10) as i;
select max(id) as newest from procrastinate_jobs \gset

select results_eq(
    $$select id from procrastinate_dashboard_jobs_v1(p_limit => 4)$$,
    $$select id from procrastinate_jobs order by id desc limit 4$$,
    'the first page holds the newest jobs, newest first'
);
select results_eq(
    format(
        'select id from procrastinate_dashboard_jobs_v1(p_before_id => %s, p_limit => 4)',
        :newest - 3
    ),
    format('select id from procrastinate_jobs where id < %s order by id desc limit 4', :newest - 3),
    'the next page starts below the last id shown'
);
select is(
    (select count(*) from procrastinate_dashboard_jobs_v1(p_queue => 'dq_even'))::integer, 5,
    'filtered by queue'
);
select is(
    (
        select count(*)
        from procrastinate_dashboard_jobs_v1(p_status => 'failed', p_task => 'dt1')
    )::integer,
    1, 'filtered by status and task'
);
select is(
    (select array_agg(queue_name) from procrastinate_dashboard_jobs_v1(p_lock => 'dl')),
    array['dq_odd'], 'filtered by lock'
);
select is(
    (select count(*) from procrastinate_dashboard_jobs_v1(p_worker_id => 77))::integer, 1,
    'filtered by worker'
);
select throws_ok(
    'select * from procrastinate_dashboard_jobs_v1(p_limit => 501)', 'PT001', null,
    'a page is at most 500 jobs'
);

select * from finish();
rollback;
