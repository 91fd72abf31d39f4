-- A worker gives back jobs it claimed ahead and never started: back to todo
-- with their attempts unchanged, or aborted when their abort was requested
-- (like any pending abort). Jobs of other workers or already finished are
-- left alone.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

select procrastinate_register_worker_v2('ahead', null, 1, 'h', 1) as ahead \gset
select procrastinate_register_worker_v2('other', null, 1, 'h', 2) as other \gset

select procrastinate_defer_job('claimed', queue_name => 'a') as claimed \gset
select procrastinate_defer_job('aborting', queue_name => 'a') as aborting \gset
select procrastinate_defer_job('done', queue_name => 'a') as done \gset
select procrastinate_defer_job('elsewhere', queue_name => 'b') as elsewhere \gset
select count(*) as claimed_a from procrastinate_fetch_jobs_v2(:ahead, array['a'], 10) \gset
select count(*) as claimed_b from procrastinate_fetch_jobs_v2(:other, array['b'], 10) \gset
select procrastinate_cancel_job(:aborting, abort => true) as abort_requested \gset
select count(*) as finished from procrastinate_finish_jobs_v1(
    :ahead, format('[{"id": %s, "attempt": 0, "status": "succeeded"}]', :done)::jsonb
) \gset

select results_eq(
    format(
        'select * from procrastinate_release_jobs_v2(%s, array[%s, %s, %s, %s, 999999]) order by 1',
        :ahead, :claimed, :aborting, :done, :elsewhere
    ),
    format('values (%s::bigint), (%s::bigint)', :claimed, :aborting),
    'only the jobs this worker holds in doing are released, and their ids returned'
);
select results_eq(
    format(
        $$select status, attempts, worker_id, started_at, finished_at
          from procrastinate_jobs where id = %s$$,
        :claimed
    ),
    $$values ('todo'::procrastinate_job_status, 0, null::bigint, null::timestamptz,
              null::timestamptz)$$,
    'a released job is waiting again as before its claim, no attempt counted'
);
select results_eq(
    format(
        $$select status, attempts, abort_requested, finished_at
          from procrastinate_jobs where id = %s$$,
        :aborting
    ),
    $$values ('aborted'::procrastinate_job_status, 0, false, now())$$,
    'a released job whose abort was requested ends aborted, no attempt counted'
);
select results_eq(
    format('select status, worker_id from procrastinate_jobs where id = %s', :done),
    format($$values ('succeeded'::procrastinate_job_status, %s::bigint)$$, :ahead),
    'a finished job is untouched'
);
select results_eq(
    format('select status, worker_id from procrastinate_jobs where id = %s', :elsewhere),
    format($$values ('doing'::procrastinate_job_status, %s::bigint)$$, :other),
    'another worker''s job is untouched'
);
select results_eq(
    format('select id from procrastinate_fetch_jobs_v2(%s, array[%L], 10)', :other, 'a'),
    format('values (%s::bigint)', :claimed),
    'the released job can be claimed by another worker'
);
select is_empty(
    format('select * from procrastinate_release_jobs_v2(%s, array[%s])', :ahead, :claimed),
    'releasing a job held by another worker releases nothing'
);

select * from finish();
rollback;
