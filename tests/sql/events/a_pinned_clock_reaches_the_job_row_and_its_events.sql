-- One clock: a time pinned with p_now (here in 2030) on defer, fetch and
-- finish is the time of the job row (created_at, started_at, finished_at) and
-- of its events (deferred, started, succeeded), never the server's now().
-- Relative times (scheduled_in) are added to that clock too.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

select d.id as job
from procrastinate_defer_jobs_v2(
    '[{"task_name": "pinned", "queue_name": "pin"}]', p_now => '2030-06-01 10:00:00+00'
) as d \gset
select count(*) as claimed
from procrastinate_fetch_jobs_v2(7, array['pin'], 1, p_now => '2030-06-01 10:00:05+00') \gset
select count(*) as finished
from procrastinate_finish_jobs_v1(
    7, format('[{"id": %s, "status": "succeeded"}]', :job)::jsonb,
    p_now => '2030-06-01 10:00:09+00'
) \gset

select results_eq(
    format(
        'select created_at, started_at, finished_at from procrastinate_jobs where id = %s', :job
    ),
    $$values (
        '2030-06-01 10:00:00+00'::timestamptz, '2030-06-01 10:00:05+00'::timestamptz,
        '2030-06-01 10:00:09+00'::timestamptz
    )$$,
    'the job row carries the pinned times of its defer, fetch and finish'
);
select results_eq(
    format('select type, at from procrastinate_events where job_id = %s order by id', :job),
    $$values
        ('deferred'::procrastinate_job_event_type, '2030-06-01 10:00:00+00'::timestamptz),
        ('started', '2030-06-01 10:00:05+00'),
        ('succeeded', '2030-06-01 10:00:09+00')$$,
    'its deferred, started and succeeded events carry the same pinned times'
);

select d.id as later
from procrastinate_defer_jobs_v2(
    '[{"task_name": "later", "queue_name": "pin", "scheduled_in": 60}]',
    p_now => '2030-06-01 10:00:00+00'
) as d \gset
select results_eq(
    format('select created_at, scheduled_at from procrastinate_jobs where id = %s', :later),
    $$values ('2030-06-01 10:00:00+00'::timestamptz, '2030-06-01 10:01:00+00'::timestamptz)$$,
    'scheduled_in is added to the pinned clock'
);
select results_eq(
    format('select type, at from procrastinate_events where job_id = %s order by id', :later),
    $$values
        ('scheduled'::procrastinate_job_event_type, '2030-06-01 10:01:00+00'::timestamptz),
        ('deferred', '2030-06-01 10:00:00+00')$$,
    'its scheduled and deferred events carry the scheduled and pinned times'
);

select procrastinate_defer_job('to_cancel', queue_name => 'c') as to_cancel \gset
select procrastinate_cancel_job_v1(
    :to_cancel, false, false, '2030-06-01 11:00:00+00'
) as cancelled \gset
select results_eq(
    format(
        $$select j.finished_at, e.at from procrastinate_jobs as j
          inner join procrastinate_events as e on e.job_id = j.id and e.type = 'cancelled'
          where j.id = %s$$,
        :to_cancel
    ),
    $$values ('2030-06-01 11:00:00+00'::timestamptz, '2030-06-01 11:00:00+00'::timestamptz)$$,
    'a cancellation at a pinned time is finished and recorded at that time'
);
select is(
    (
        select count(*)::integer from procrastinate_events
        where
            (job_id in (:job, :later) or (job_id = :to_cancel and type = 'cancelled'))
            and at = now()
    ),
    0,
    'no event of these jobs took the server''s clock'
);

select * from finish();
rollback;
