-- A run cut short by its worker's shutdown is reported aborted with
-- "interrupted": true: SQL retries it like a failure when the job's policy
-- allows, else it ends aborted; a pending abort always ends aborted. A retry
-- decision {"in": seconds} is added to the finish's clock.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

select procrastinate_defer_job(
    'with_policy', queue_name => 'i', max_attempts => 3, retry_wait => 10
) as with_policy \gset
select procrastinate_defer_job('without_policy', queue_name => 'i') as without_policy \gset
select procrastinate_defer_job(
    'abort_pending', queue_name => 'i', max_attempts => 3
) as abort_pending \gset
select procrastinate_defer_job(
    'plain_abort', queue_name => 'i', max_attempts => 3
) as plain_abort \gset
select procrastinate_defer_job('decided', queue_name => 'i') as decided \gset
select procrastinate_defer_job(
    'decided_failure', queue_name => 'i', max_attempts => 3, retry_wait => 10
) as decided_failure \gset
select count(*) as claimed
from procrastinate_fetch_jobs_v2(7, array['i'], 10, p_now => '2030-01-01 00:00:00+00') \gset
select procrastinate_cancel_job(:abort_pending, abort => true) as abort_requested \gset

select results_eq(
    format(
        $$select job_id, accepted, status, scheduled_at
          from procrastinate_finish_jobs_v1(7, '[
            {"id": %s, "status": "aborted", "interrupted": true},
            {"id": %s, "status": "aborted", "interrupted": true},
            {"id": %s, "status": "aborted", "interrupted": true},
            {"id": %s, "status": "aborted"},
            {"id": %s, "status": "aborted", "interrupted": true, "retry": {"in": 90}},
            {"id": %s, "status": "failed", "retry": {"in": 0.5}}
          ]', p_now => '2030-01-01 00:01:00+00')$$,
        :with_policy, :without_policy, :abort_pending, :plain_abort, :decided, :decided_failure
    ),
    format(
        $$values
            (%s::bigint, true, 'todo'::procrastinate_job_status,
             '2030-01-01 00:01:10+00'::timestamptz),
            (%s, true, 'aborted', null),
            (%s, true, 'aborted', null),
            (%s, true, 'aborted', null),
            (%s, true, 'todo', '2030-01-01 00:02:30+00'),
            (%s, true, 'todo', '2030-01-01 00:01:00.5+00')$$,
        :with_policy, :without_policy, :abort_pending, :plain_abort, :decided, :decided_failure
    ),
    'interrupted runs follow the policy, a pending abort ends aborted, "in" adds to the clock'
);
select results_eq(
    format(
        $$select status, attempts, worker_id, scheduled_at, finished_at
          from procrastinate_jobs where id = %s$$,
        :with_policy
    ),
    $$values ('todo'::procrastinate_job_status, 1, null::bigint,
              '2030-01-01 00:01:10+00'::timestamptz, null::timestamptz)$$,
    'the interrupted job waits for its retry delay, the run counted as an attempt'
);
select results_eq(
    format(
        'select status, attempts, finished_at from procrastinate_jobs where id = %s',
        :without_policy
    ),
    $$values ('aborted'::procrastinate_job_status, 1, '2030-01-01 00:01:00+00'::timestamptz)$$,
    'an interrupted job without a policy ends aborted at the finish''s clock'
);
select is(
    (select abort_requested from procrastinate_jobs where id = :abort_pending), false,
    'the pending abort is cleared once the job ends aborted'
);
select is(
    (
        select array_agg(type::text order by id) from procrastinate_events
        where job_id = :with_policy
    ),
    array['deferred', 'started', 'scheduled', 'deferred_for_retry'],
    'the interrupted run reads deferred_for_retry in the history'
);
select throws_ok(
    format(
        $$select * from procrastinate_finish_jobs_v1(7,
            '[{"id": %s, "status": "failed", "interrupted": "yes"}]')$$,
        :decided
    ),
    'PT005', 'outcome #1 has an interrupted that is not a boolean',
    'interrupted must be a boolean'
);
select is(
    (select status from procrastinate_jobs where id = :decided), 'todo'::procrastinate_job_status,
    'the refused report changed nothing'
);

select * from finish();
rollback;
