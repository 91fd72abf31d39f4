-- A running job is only touched with abort: its abort is requested (the
-- worker stops it and reports aborted). Finished jobs cannot be cancelled.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(9);

select procrastinate_defer_job('running') as running \gset
select procrastinate_defer_job('done') as done \gset
select count(*) as claimed from procrastinate_fetch_jobs_v2(3, null, 10) \gset
select count(*) as finished from procrastinate_finish_jobs_v1(
    3, format('[{"id": %s, "status": "succeeded"}]', :done)::jsonb
) \gset

select is(
    procrastinate_cancel_job(:running), false,
    'cancelling a running job without abort returns false'
);
select is(
    procrastinate_cancel_job(:running, delete_job => true), false,
    'a running job is not deleted either'
);
select results_eq(
    format('select status, abort_requested from procrastinate_jobs where id = %s', :running),
    $$values ('doing'::procrastinate_job_status, false)$$,
    'the running job is untouched'
);
select is(
    procrastinate_cancel_job(:running, abort => true), true,
    'cancelling a running job with abort returns true'
);
select results_eq(
    format(
        'select status, abort_requested, worker_id from procrastinate_jobs where id = %s',
        :running
    ),
    $$values ('doing'::procrastinate_job_status, true, 3::bigint)$$,
    'the job keeps running with its abort requested'
);
select results_eq(
    format(
        'select type from procrastinate_events where job_id = %s order by id desc limit 1',
        :running
    ),
    $$values ('abort_requested'::procrastinate_job_event_type)$$,
    'an abort_requested event is recorded'
);
select is(procrastinate_cancel_job(:done), false, 'a succeeded job cannot be cancelled');
select is(
    procrastinate_cancel_job(:done, abort => true, delete_job => true), false,
    'nor aborted, nor deleted'
);
select is(
    procrastinate_get_job_status(:done), 'succeeded'::procrastinate_job_status,
    'the succeeded job is untouched'
);

select * from finish();
rollback;
