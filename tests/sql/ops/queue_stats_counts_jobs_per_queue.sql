-- procrastinate_queue_stats: one row per queue (paused ones included), jobs
-- per status, how many are runnable now and how long the oldest has waited.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(3);

insert into procrastinate_jobs (queue_name, task_name, status, created_at, scheduled_at)
values
('stats_q', 't', 'todo', now() - interval '2 hours', now() - interval '1 hour'),
('stats_q', 't', 'todo', now() - interval '30 minutes', null),
('stats_q', 't', 'todo', now() - interval '3 hours', now() + interval '1 hour'),
('stats_q', 't', 'doing', now(), null),
('stats_q', 't', 'succeeded', now(), null),
('stats_q', 't', 'succeeded', now(), null),
('stats_q', 't', 'failed', now(), null),
('stats_q', 't', 'cancelled', now(), null),
('stats_q', 't', 'aborted', now(), null);
insert into procrastinate_paused_queues (queue_name) values ('stats_paused');

select results_eq(
    $$select todo, doing, succeeded, failed, cancelled, aborted, runnable, oldest_waiting_age,
             paused
      from procrastinate_queue_stats where queue_name = 'stats_q'$$,
    $$values (3::bigint, 1::bigint, 2::bigint, 1::bigint, 1::bigint, 1::bigint, 2::bigint,
              interval '1 hour', false)$$,
    'jobs per status; 2 runnable, the oldest waiting for an hour since it was due'
);
select results_eq(
    $$select todo, doing, runnable, oldest_waiting_age, paused
      from procrastinate_queue_stats where queue_name = 'stats_paused'$$,
    $$values (0::bigint, 0::bigint, 0::bigint, null::interval, true)$$,
    'a paused queue without jobs is listed, paused'
);
select is(
    (select count(*)::integer from procrastinate_queue_stats where queue_name like 'stats\_%'), 2,
    'one row per queue'
);

select * from finish();
rollback;
