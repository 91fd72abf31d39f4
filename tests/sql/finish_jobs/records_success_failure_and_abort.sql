-- Reported outcomes end the jobs: succeeded, failed (no retry policy) or
-- aborted, each run counted in attempts, finished at p_now, the error of a
-- failure kept.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

select procrastinate_defer_job('ok') as ok \gset
select procrastinate_defer_job('ko') as ko \gset
select procrastinate_defer_job('stopped') as stopped \gset
select procrastinate_defer_job('silent_failure') as silent \gset

select is(
    (
        select count(*)::integer
        from procrastinate_fetch_jobs_v2(7, null, 10, p_now => '2030-01-01 00:00:00+00')
    ),
    4,
    'worker 7 claims the four jobs'
);

select results_eq(
    format(
        $$select job_id, accepted, status, scheduled_at, reason
          from procrastinate_finish_jobs_v1(
              7,
              '[{"id": %s, "attempt": 0, "status": "succeeded"},
                {"id": %s, "attempt": 0, "status": "failed",
                 "error": {"types": ["ValueError", "Exception", "BaseException"],
                           "message": "boom"}},
                {"id": %s, "attempt": 0, "status": "aborted"},
                {"id": %s, "status": "failed"}]',
              'never', '2030-01-01 00:05:00+00'
          )$$,
        :ok, :ko, :stopped, :silent
    ),
    format(
        $$values (%s::bigint, true, 'succeeded'::procrastinate_job_status, null::timestamptz,
                  null::text),
                 (%s, true, 'failed', null, null),
                 (%s, true, 'aborted', null, null),
                 (%s, true, 'failed', null, null)$$,
        :ok, :ko, :stopped, :silent
    ),
    'one accepted row per outcome, in input order, with the new status'
);
select results_eq(
    format(
        $$select status, attempts, finished_at, worker_id, last_error, last_error_types
          from procrastinate_jobs where id = %s$$,
        :ok
    ),
    $$values ('succeeded'::procrastinate_job_status, 1, '2030-01-01 00:05:00+00'::timestamptz,
              7::bigint, null::text, null::text[])$$,
    'the succeeded job: attempts 1, finished at p_now, no error'
);
select results_eq(
    format(
        $$select status, attempts, finished_at, last_error, last_error_types
          from procrastinate_jobs where id = %s$$,
        :ko
    ),
    $$values ('failed'::procrastinate_job_status, 1, '2030-01-01 00:05:00+00'::timestamptz,
              'boom'::text, array['ValueError', 'Exception', 'BaseException'])$$,
    'the failed job keeps the error message and class names'
);
select results_eq(
    format(
        'select status, attempts, finished_at, last_error from procrastinate_jobs where id = %s',
        :stopped
    ),
    $$values ('aborted'::procrastinate_job_status, 1, '2030-01-01 00:05:00+00'::timestamptz,
              null::text)$$,
    'the aborted job: attempts 1, finished at p_now'
);
select results_eq(
    format(
        'select status, last_error, last_error_types from procrastinate_jobs where id = %s',
        :silent
    ),
    $$values ('failed'::procrastinate_job_status, null::text, null::text[])$$,
    'a failure reported without an error leaves no message (no attempt given: not fenced)'
);
select is(
    (select started_at from procrastinate_jobs where id = :ok),
    '2030-01-01 00:00:00+00'::timestamptz,
    'started_at is kept'
);

select * from finish();
rollback;
