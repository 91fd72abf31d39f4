-- Once its abort is requested a job is not retried: a failure is final,
-- even with a retry policy or an explicit decision; the flag is cleared.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

select procrastinate_defer_job('policy', max_attempts => 0) as policy \gset
select procrastinate_defer_job('decision', max_attempts => 0) as decision \gset
select procrastinate_defer_job('stopping') as stopping \gset
select procrastinate_defer_job('too_late') as too_late \gset

select is(
    (
        select count(*)::integer
        from procrastinate_fetch_jobs_v2(7, null, 10, p_now => '2030-01-01 00:00:00+00')
    ),
    4,
    'worker 7 claims the four jobs'
);
select is(
    (
        select count(*)::integer
        from procrastinate_jobs as j
        where j.worker_id = 7 and procrastinate_cancel_job(j.id, abort => true)
    ),
    4,
    'the abort of each is requested'
);

select results_eq(
    format(
        $$select job_id, accepted, status, scheduled_at
          from procrastinate_finish_jobs_v1(
              7,
              '[{"id": %s, "status": "failed"},
                {"id": %s, "status": "failed", "retry": {"at": null}},
                {"id": %s, "status": "aborted"},
                {"id": %s, "status": "succeeded"}]',
              'never', '2030-01-01 00:01:00+00'
          )$$,
        :policy, :decision, :stopping, :too_late
    ),
    format(
        $$values (%s::bigint, true, 'failed'::procrastinate_job_status, null::timestamptz),
                 (%s, true, 'failed', null),
                 (%s, true, 'aborted', null),
                 (%s, true, 'succeeded', null)$$,
        :policy, :decision, :stopping, :too_late
    ),
    'failures are final; an abort and a late success are recorded as such'
);
select is(
    (
        select count(*)::integer from procrastinate_jobs
        where id in (:policy, :decision, :stopping, :too_late) and abort_requested
    ),
    0,
    'abort_requested is cleared on every finished job'
);
select results_eq(
    format(
        'select status, attempts, finished_at, worker_id from procrastinate_jobs where id = %s',
        :stopping
    ),
    $$values ('aborted'::procrastinate_job_status, 1, '2030-01-01 00:01:00+00'::timestamptz,
              7::bigint)$$,
    'the aborted job is finished, its run counted'
);
select is_empty(
    'select * from procrastinate_jobs_to_abort_v1(7)',
    'worker 7 has nothing left to abort'
);

select * from finish();
rollback;
