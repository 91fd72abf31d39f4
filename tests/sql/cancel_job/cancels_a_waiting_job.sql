-- A waiting job is cancelled (or deleted with delete_job); true says it
-- was done.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

select procrastinate_defer_job('cancel_me') as cancelled \gset
select procrastinate_defer_job('delete_me') as deleted \gset
select procrastinate_defer_job(
    'scheduled', scheduled_at => now() + interval '1 hour'
) as scheduled \gset

select is(procrastinate_cancel_job(:cancelled), true, 'cancelling a waiting job returns true');
select results_eq(
    format('select status, finished_at from procrastinate_jobs where id = %s', :cancelled),
    $$values ('cancelled'::procrastinate_job_status, now())$$,
    'the job is cancelled, finished now'
);
select is(
    procrastinate_cancel_job(:deleted, delete_job => true), true,
    'cancelling with delete_job returns true'
);
select is_empty(
    format('select 1 from procrastinate_jobs where id = %s', :deleted),
    'the job is deleted'
);
select is(
    procrastinate_cancel_job(:scheduled), true,
    'a job scheduled for later can be cancelled'
);
select is_empty(
    $$select id from procrastinate_fetch_jobs_v2(
        1, null, 10, p_now => now() + interval '2 hours'
    )$$,
    'cancelled jobs are never fetched'
);

select * from finish();
rollback;
