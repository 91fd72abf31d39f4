-- A running job may be retried: its run ends, counted as an attempt, and
-- its worker is fenced off. If its abort was requested it ends failed.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

select procrastinate_defer_job('stuck') as stuck \gset
select procrastinate_defer_job('aborting') as aborting \gset
select count(*) as claimed from procrastinate_fetch_jobs_v2(4, null, 10) \gset
select procrastinate_cancel_job(:aborting, abort => true) as abort_requested \gset

select is(
    procrastinate_retry_job(:stuck, retry_at => now() + interval '1 minute'),
    'todo'::procrastinate_job_status,
    'a running job is put back: todo'
);
select results_eq(
    format(
        'select status, attempts, worker_id, scheduled_at from procrastinate_jobs where id = %s',
        :stuck
    ),
    $$values ('todo'::procrastinate_job_status, 1, null::bigint, now() + interval '1 minute')$$,
    'its run counts as an attempt and it no longer has a worker'
);
select is(
    (
        select f.reason from procrastinate_finish_jobs_v1(
            4, format('[{"id": %s, "attempt": 0, "status": "succeeded"}]', :stuck)::jsonb
        ) as f
    ),
    'not_held',
    'the worker that ran it can no longer report it'
);
select is(
    (
        select type from procrastinate_events where job_id = :stuck
        order by id desc limit 1
    ),
    'deferred_for_retry'::procrastinate_job_event_type,
    'a deferred_for_retry event is recorded'
);

select is(
    procrastinate_retry_job(:aborting), 'failed'::procrastinate_job_status,
    'a running job whose abort was requested ends failed'
);
select results_eq(
    format(
        $$select status, attempts, abort_requested, finished_at
          from procrastinate_jobs where id = %s$$,
        :aborting
    ),
    $$values ('failed'::procrastinate_job_status, 1, false, now())$$,
    'it is finished, its run counted, the abort request cleared'
);
select is(
    (
        select type from procrastinate_events where job_id = :aborting
        order by id desc limit 1
    ),
    'failed'::procrastinate_job_event_type,
    'a failed event is recorded'
);

select * from finish();
rollback;
