-- procrastinate_dashboard_job_v1 reads one job with its worker's name and
-- its events, oldest first; an unknown id gives no row.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

select procrastinate_defer_job('jt', '{"a": 1}', queue_name => 'jq') as job \gset
select procrastinate_register_worker_v2('dash-worker', null, 1, 'h', 1) as worker \gset
select count(*) from procrastinate_fetch_jobs_v3(:worker, array['jq'], 1, gen_random_uuid(), false);

select results_eq(
    format(
        'select task_name, args, status::text, worker_name from procrastinate_dashboard_job_v1(%s)',
        :job
    ),
    $$values ('jt', '{"a": 1}'::jsonb, 'doing', 'dash-worker')$$,
    'the job, with its worker''s name'
);
select is(
    (
        select array(select e ->> 'type' from jsonb_array_elements(d.events) as e)
        from procrastinate_dashboard_job_v1(:job) as d
    ),
    array['deferred', 'started'],
    'its events, oldest first'
);
select ok(
    (select (events -> 0 ->> 'at') is not null from procrastinate_dashboard_job_v1(:job)),
    'each event says when'
);
select is_empty('select * from procrastinate_dashboard_job_v1(-1)', 'no row for an unknown id');

select * from finish();
rollback;
