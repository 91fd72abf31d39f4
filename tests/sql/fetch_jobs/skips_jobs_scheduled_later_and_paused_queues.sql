-- A job scheduled for later waits until p_now reaches scheduled_at; a job
-- of a paused queue waits until the queue is resumed.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

select procrastinate_defer_job('later', scheduled_at => '2030-01-01 12:00:00+00') as later \gset
select procrastinate_defer_job('past', scheduled_at => '2000-01-01 00:00:00+00') as past \gset

select results_eq(
    $$select id from procrastinate_fetch_jobs_v2(
        1, null, 10, p_now => '2030-01-01 11:59:59.999999+00'
    )$$,
    format('values (%s::bigint)', :past),
    'a job scheduled in the past is claimed, one scheduled later is not'
);
select results_eq(
    $$select id from procrastinate_fetch_jobs_v2(1, null, 10, p_now => '2030-01-01 12:00:00+00')$$,
    format('values (%s::bigint)', :later),
    'a job is claimed once p_now reaches its scheduled_at'
);

insert into procrastinate_paused_queues (queue_name) values ('paused');
select procrastinate_defer_job('sleeping', queue_name => 'paused') as sleeping \gset
select procrastinate_defer_job('awake', queue_name => 'open') as awake \gset

select results_eq(
    $$select id from procrastinate_fetch_jobs_v2(1, null, 10)$$,
    format('values (%s::bigint)', :awake),
    'a job of a paused queue is skipped when fetching from all queues'
);
select is_empty(
    $$select id from procrastinate_fetch_jobs_v2(1, array['paused'], 10)$$,
    'a job of a paused queue is skipped when fetching from that queue'
);
select is(
    procrastinate_get_job_status(:sleeping), 'todo'::procrastinate_job_status,
    'the job of the paused queue still waits'
);

delete from procrastinate_paused_queues where queue_name = 'paused';

select results_eq(
    $$select id from procrastinate_fetch_jobs_v2(1, array['paused'], 10)$$,
    format('values (%s::bigint)', :sleeping),
    'once the queue is resumed its job is claimed'
);
select is(
    (select status from procrastinate_jobs where id = :later), 'doing'::procrastinate_job_status,
    'the job scheduled for later runs once claimed'
);

select * from finish();
rollback;
