-- A failed job goes back to todo, at retry_at (null: now), with optional
-- new priority, queue and lock; a 'retried' event is recorded.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

select procrastinate_defer_job('plain', lock => 'L1', priority => 1) as plain \gset
select procrastinate_defer_job('moved', lock => 'L1', priority => 1) as moved \gset
select count(*) as claimed from procrastinate_fetch_jobs_v2(4, null, 10) \gset
select count(*) as failed from procrastinate_finish_jobs_v1(
    4, format('[{"id": %s, "status": "failed"}]', :plain)::jsonb
) \gset
select count(*) as claimed_again from procrastinate_fetch_jobs_v2(4, null, 10) \gset
select count(*) as failed_again from procrastinate_finish_jobs_v1(
    4, format('[{"id": %s, "status": "failed", "error": {"message": "x"}}]', :moved)::jsonb
) \gset

select is(procrastinate_retry_job(:plain), 'todo'::procrastinate_job_status, 'returns todo');
select results_eq(
    format(
        $$select status, scheduled_at, priority, queue_name, lock, attempts, worker_id, finished_at
          from procrastinate_jobs where id = %s$$,
        :plain
    ),
    $$values ('todo'::procrastinate_job_status, null::timestamptz, 1, 'default'::text,
              'L1'::text, 1, null::bigint, null::timestamptz)$$,
    'the job waits again, due now, attempts kept, worker and finish time cleared'
);
select is(
    (select array_agg(type::text order by id) from procrastinate_events where job_id = :plain),
    array['deferred', 'started', 'failed', 'retried'],
    'a retried event follows the failure'
);

select is(
    procrastinate_retry_job(
        :moved, retry_at => '2030-01-01 00:00:00+00', priority => 7, queue_name => 'slow',
        lock => 'L2'
    ),
    'todo'::procrastinate_job_status,
    'returns todo with overrides'
);
select results_eq(
    format(
        'select scheduled_at, priority, queue_name, lock from procrastinate_jobs where id = %s',
        :moved
    ),
    $$values ('2030-01-01 00:00:00+00'::timestamptz, 7, 'slow'::text, 'L2'::text)$$,
    'the overrides are applied'
);
select results_eq(
    format(
        'select type, at from procrastinate_events where job_id = %s order by id desc limit 2',
        :moved
    ),
    $$values ('retried'::procrastinate_job_event_type, now()),
             ('scheduled', '2030-01-01 00:00:00+00'::timestamptz)$$,
    'scheduled (at retry_at) then retried events are recorded (3.x order)'
);
select results_eq(
    $$select id from procrastinate_fetch_jobs_v2(4, null, 10, p_now => '2030-01-01 00:00:00+00')$$,
    format('values (%s::bigint), (%s::bigint)', :moved, :plain),
    'both are claimed again, the higher priority first'
);
select * from finish();
rollback;
