-- Every transition of a job writes its event: deferred (and scheduled, at
-- scheduled_at), started (at started_at, the fetch's clock), deferred_for_retry
-- (and scheduled at the retry time), abort_requested, aborted, succeeded,
-- failed, cancelled, retried.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(8);

-- The events of a job, in order, as 'type' or 'type@at' when at is not now().
create function pg_temp.history(p_job_id bigint)
returns text[]
language sql
as $$
    select array_agg(
        e.type::text || case when e.at = now() then '' else '@' || to_char(
            e.at at time zone 'UTC', 'HH24:MI:SS'
        ) end
        order by e.id
    )
    from procrastinate_events as e
    where e.job_id = p_job_id;
$$;

select procrastinate_defer_job('plain', queue_name => 'p') as plain \gset
select procrastinate_defer_job(
    'life', queue_name => 'l', scheduled_at => '2030-01-01 10:00:00+00', max_attempts => 0,
    retry_wait => 30
) as life \gset

select is(pg_temp.history(:plain), array['deferred'], 'a deferred job has a deferred event');
select is(
    pg_temp.history(:life), array['scheduled@10:00:00', 'deferred'],
    'a job deferred for later also has a scheduled event at its scheduled_at, first (3.x order)'
);

select count(*) as c1
from procrastinate_fetch_jobs_v2(1, array['l'], 1, p_now => '2030-01-01 10:00:00+00') \gset
select count(*) as f1 from procrastinate_finish_jobs_v1(
    1, format('[{"id": %s, "status": "failed"}]', :life)::jsonb, 'never', '2030-01-01 10:00:05+00'
) \gset
select is(
    pg_temp.history(:life),
    array[
        'scheduled@10:00:00', 'deferred', 'started@10:00:00', 'scheduled@10:00:35',
        'deferred_for_retry'
    ],
    'a failure retried by the policy: deferred_for_retry, scheduled at the retry time'
);

select count(*) as c2
from procrastinate_fetch_jobs_v2(1, array['l'], 1, p_now => '2030-01-01 10:00:35+00') \gset
select procrastinate_cancel_job(:life, abort => true) as abort_requested \gset
select count(*) as f2 from procrastinate_finish_jobs_v1(
    1, format('[{"id": %s, "status": "aborted"}]', :life)::jsonb
) \gset
select is(
    (pg_temp.history(:life))[6:],
    array['started@10:00:35', 'abort_requested', 'aborted'],
    'an abort: abort_requested then aborted'
);

select procrastinate_defer_job('ok', queue_name => 'o') as ok \gset
select procrastinate_defer_job('ko', queue_name => 'o') as ko \gset
select procrastinate_defer_job(
    'never_run', queue_name => 'o', scheduled_at => '2040-01-01'
) as never_run \gset
select count(*) as c3 from procrastinate_fetch_jobs_v2(1, array['o'], 10) \gset
select count(*) as f3 from procrastinate_finish_jobs_v1(
    1,
    format('[{"id": %s, "status": "succeeded"}, {"id": %s, "status": "failed"}]', :ok, :ko)::jsonb
) \gset
select procrastinate_cancel_job(:never_run) as cancelled \gset
select procrastinate_retry_job(:ko) as retried \gset

select is(pg_temp.history(:ok), array['deferred', 'started', 'succeeded'], 'a success');
select is(
    pg_temp.history(:ko), array['deferred', 'started', 'failed', 'retried'],
    'a final failure, then a manual retry'
);
select is(
    pg_temp.history(:never_run), array['scheduled@00:00:00', 'deferred', 'cancelled'],
    'a cancellation'
);
select is(
    (select type from procrastinate_events where job_id = :plain and type = 'deferred'),
    'deferred'::procrastinate_job_event_type,
    'the untouched job still has only its deferred event'
);

select * from finish();
rollback;
