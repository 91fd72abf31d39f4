-- procrastinate_cancel_jobs cancels every waiting job of a queue and/or a
-- task, never running ones, and refuses to cancel everything (PT001).
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

select procrastinate_defer_job('ca', queue_name => 'cq1') as q1a \gset
select procrastinate_defer_job('cb', queue_name => 'cq1') as q1b \gset
select procrastinate_defer_job('ca', queue_name => 'cq2') as q2a \gset
select procrastinate_defer_job('cb', queue_name => 'cq2') as q2b \gset
select procrastinate_defer_job('cb', queue_name => 'cq3') as running \gset
select count(*) as claimed from procrastinate_fetch_jobs_v2(1, array['cq3'], 10) \gset

select throws_ok(
    'select procrastinate_cancel_jobs(null, null)',
    'PT001', 'name a queue_name or a task_name (or both): refusing to cancel every job',
    'cancelling every job at once is refused'
);
select is(procrastinate_cancel_jobs('cq1', null), 2, 'a whole queue: two jobs');
select is(procrastinate_cancel_jobs(null, 'ca'), 1, 'a task across queues: the one left');
select is(procrastinate_cancel_jobs('cq2', 'cb'), 1, 'a task in a queue');
select is(procrastinate_cancel_jobs('cq3', 'cb'), 0, 'a running job is not cancelled');
select is(
    (
        select array_agg(status::text order by id) from procrastinate_jobs
        where id in (:q1a, :q1b, :q2a, :q2b, :running)
    ),
    array['cancelled', 'cancelled', 'cancelled', 'cancelled', 'doing'],
    'the waiting jobs are cancelled, the running one runs'
);
select is(
    (select finished_at from procrastinate_jobs where id = :q1a), now(),
    'cancelled jobs are finished now'
);

select * from finish();
rollback;
