-- The status of a job by id; an unknown job raises PT003.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(5);

select procrastinate_defer_job('waiting') as waiting \gset
select procrastinate_defer_job('running', queue_name => 'run') as running \gset
select procrastinate_defer_job('cancelled') as cancelled \gset
select count(*) as claimed from procrastinate_fetch_jobs_v2(1, array['run'], 1) \gset
select procrastinate_cancel_job(:cancelled) as cancel \gset
select coalesce(max(id), 0) + 1000 as unknown from procrastinate_jobs \gset

select is(procrastinate_get_job_status(:waiting), 'todo'::procrastinate_job_status, 'todo');
select is(procrastinate_get_job_status(:running), 'doing'::procrastinate_job_status, 'doing');
select is(
    procrastinate_get_job_status(:cancelled), 'cancelled'::procrastinate_job_status, 'cancelled'
);
select throws_ok(
    format('select procrastinate_get_job_status(%s)', :unknown),
    'PT003', format('job %s does not exist', :unknown),
    'an unknown job raises PT003'
);
select throws_ok(
    'select procrastinate_get_job_status(null)',
    'PT001', null,
    'a null id is a bad argument: PT001'
);

select * from finish();
rollback;
