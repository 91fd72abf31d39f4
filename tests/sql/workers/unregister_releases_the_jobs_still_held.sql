-- A stopping worker unregisters: its row goes; jobs it still holds go back
-- to todo (their run counted) or, when their abort was requested, end
-- aborted. Other workers' jobs and finished jobs are untouched.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(8);

select procrastinate_register_worker_v2('leaving', null, 4, 'h', 1) as leaving \gset
select procrastinate_register_worker_v2('staying', null, 4, 'h', 2) as staying \gset

select procrastinate_defer_job('held', queue_name => 'a') as held \gset
select procrastinate_defer_job('aborting', queue_name => 'a') as aborting \gset
select procrastinate_defer_job('done', queue_name => 'a') as done \gset
select procrastinate_defer_job('elsewhere', queue_name => 'b') as elsewhere \gset
select count(*) as claimed_a from procrastinate_fetch_jobs_v2(:leaving, array['a'], 10) \gset
select count(*) as claimed_b from procrastinate_fetch_jobs_v2(:staying, array['b'], 10) \gset
select procrastinate_cancel_job(:aborting, abort => true) as abort_requested \gset
select count(*) as finished from procrastinate_finish_jobs_v1(
    :leaving, format('[{"id": %s, "status": "succeeded"}]', :done)::jsonb
) \gset

select is(
    procrastinate_unregister_worker_v2(:leaving), 2,
    'unregistering returns how many held jobs were released'
);
select is_empty(
    format('select 1 from procrastinate_workers where id = %s', :leaving),
    'the worker row is deleted'
);
select results_eq(
    format(
        'select status, attempts, worker_id, finished_at from procrastinate_jobs where id = %s',
        :held
    ),
    $$values ('todo'::procrastinate_job_status, 1, null::bigint, null::timestamptz)$$,
    'a held job goes back to todo, its run counted, without worker'
);
select results_eq(
    format(
        $$select status, attempts, abort_requested, finished_at
          from procrastinate_jobs where id = %s$$,
        :aborting
    ),
    $$values ('aborted'::procrastinate_job_status, 1, false, now())$$,
    'a held job whose abort was requested ends aborted'
);
select results_eq(
    format('select status, worker_id from procrastinate_jobs where id = %s', :done),
    format($$values ('succeeded'::procrastinate_job_status, %s::bigint)$$, :leaving),
    'a finished job keeps its status and worker_id'
);
select results_eq(
    format('select status, worker_id from procrastinate_jobs where id = %s', :elsewhere),
    format($$values ('doing'::procrastinate_job_status, %s::bigint)$$, :staying),
    'another worker''s job is untouched'
);
select results_eq(
    format('select id from procrastinate_fetch_jobs_v2(%s, array[%L], 10)', :staying, 'a'),
    format('values (%s::bigint)', :held),
    'the released job can be claimed by another worker'
);
select is(
    procrastinate_unregister_worker_v2(:leaving), 0,
    'unregistering an unknown worker releases nothing'
);

select * from finish();
rollback;
