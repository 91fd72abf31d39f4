-- procrastinate_queue_backlog: the live part of procrastinate_queue_stats
-- (waiting and running jobs per queue, paused queues included), read
-- without touching finished jobs.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

insert into procrastinate_jobs (
    queue_name, task_name, status, created_at, scheduled_at, lock, worker_id
)
values
('backlog_q', 't', 'todo', now() - interval '2 hours', now() - interval '1 hour', null, null),
('backlog_q', 't', 'todo', now() - interval '30 minutes', null, 'L', null),
('backlog_q', 't', 'todo', now() - interval '3 hours', now() + interval '1 hour', null, null),
('backlog_q', 't', 'doing', now(), null, null, 7),
('backlog_q', 't', 'doing', now(), null, 'M', null),
('backlog_q', 't', 'succeeded', now(), null, null, null),
('backlog_done', 't', 'failed', now(), null, null, null);
insert into procrastinate_paused_queues (queue_name) values ('backlog_paused');

select results_eq(
    $$select todo, doing, runnable, scheduled, oldest_waiting_age, paused
      from procrastinate_queue_backlog where queue_name = 'backlog_q'$$,
    $$values (3::bigint, 2::bigint, 2::bigint, 1::bigint, interval '1 hour', false)$$,
    'waiting, running, runnable and scheduled jobs; the oldest runnable waits for an hour'
);
select results_eq(
    $$select todo, doing, paused from procrastinate_queue_backlog
      where queue_name = 'backlog_paused'$$,
    $$values (0::bigint, 0::bigint, true)$$,
    'a paused queue without jobs is listed, paused'
);
select is_empty(
    $$select 1 from procrastinate_queue_backlog where queue_name = 'backlog_done'$$,
    'a queue holding only finished jobs is not listed'
);
select results_eq(
    $$select todo, doing, runnable from procrastinate_queue_stats
      where queue_name = 'backlog_q'$$,
    $$select todo, doing, runnable from procrastinate_queue_backlog
      where queue_name = 'backlog_q'$$,
    'the same live counts as procrastinate_queue_stats'
);

select * from finish();
rollback;
