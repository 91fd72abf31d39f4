-- procrastinate_lock_stats: one row per lock held or awaited, with the job
-- running under it and the next one waiting.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(3);

select procrastinate_defer_job('first', lock => 'stats_L') as first \gset
select procrastinate_defer_job('second', lock => 'stats_L') as second \gset
select procrastinate_defer_job('third', lock => 'stats_L') as third \gset
select procrastinate_defer_job(
    'later', lock => 'stats_M', scheduled_at => now() + interval '1 day'
) as later \gset
select procrastinate_defer_job('done', lock => 'stats_N') as done \gset
select count(*) as claimed from procrastinate_fetch_jobs_v2(1, null, 10) \gset
select count(*) as finished from procrastinate_finish_jobs_v1(
    1, format('[{"id": %s, "status": "succeeded"}]', :done)::jsonb
) \gset

select results_eq(
    $$select waiting, running_job_id, next_job_id, oldest_waiting_since
      from procrastinate_lock_stats where lock = 'stats_L'$$,
    format('values (2::bigint, %s::bigint, %s::bigint, now())', :first, :second),
    'a held lock: two waiting, the running job and the next one'
);
select results_eq(
    $$select waiting, running_job_id, next_job_id
      from procrastinate_lock_stats where lock = 'stats_M'$$,
    format('values (1::bigint, null::bigint, %s::bigint)', :later),
    'a lock awaited by a job scheduled later has no running job'
);
select is_empty(
    $$select 1 from procrastinate_lock_stats where lock = 'stats_N'$$,
    'a lock whose jobs are all finished is not listed'
);

select * from finish();
rollback;
