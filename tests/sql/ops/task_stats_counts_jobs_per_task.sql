-- procrastinate_task_stats: one row per task, jobs per status, average run
-- time of successes, last failure.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(2);

insert into procrastinate_jobs (queue_name, task_name, status, started_at, finished_at)
values
('q', 'stats_a', 'succeeded', now() - interval '1 minute', now() - interval '50 seconds'),
('q', 'stats_a', 'succeeded', now() - interval '1 minute', now() - interval '40 seconds'),
('q', 'stats_a', 'failed', now() - interval '20 minutes', now() - interval '10 minutes'),
('q', 'stats_a', 'failed', now() - interval '9 minutes', now() - interval '5 minutes'),
('q', 'stats_a', 'todo', null, null),
('q', 'stats_b', 'doing', now(), null);

select results_eq(
    $$select todo, doing, succeeded, failed, cancelled, aborted, avg_duration, last_failure_at
      from procrastinate_task_stats where task_name = 'stats_a'$$,
    $$values (1::bigint, 0::bigint, 2::bigint, 2::bigint, 0::bigint, 0::bigint,
              interval '15 seconds', now() - interval '5 minutes')$$,
    'counts, average run time of successes (10 s and 20 s) and the last failure'
);
select results_eq(
    $$select todo, doing, avg_duration, last_failure_at
      from procrastinate_task_stats where task_name = 'stats_b'$$,
    $$values (0::bigint, 1::bigint, null::interval, null::timestamptz)$$,
    'a task that never finished has no average nor failure'
);

select * from finish();
rollback;
