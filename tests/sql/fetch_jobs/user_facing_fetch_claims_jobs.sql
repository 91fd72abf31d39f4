-- procrastinate_fetch_jobs, for workers in other languages: one job by
-- default, from every queue, at the current time; named parameters work.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(5);

select procrastinate_defer_job('first', queue_name => 'a') as first \gset
select procrastinate_defer_job('second', queue_name => 'b') as second \gset
select procrastinate_defer_job('third', queue_name => 'b') as third \gset
select procrastinate_defer_job('due_now', queue_name => 'c', scheduled_at => now()) as due_now \gset
select procrastinate_defer_job(
    'later', queue_name => 'c', scheduled_at => now() + interval '1 minute'
) as later \gset

select results_eq(
    'select id, worker_id from procrastinate_fetch_jobs()',
    format('values (%s::bigint, null::bigint)', :first),
    'without arguments, one job is claimed, anonymously'
);
select results_eq(
    $$select id, worker_id
      from procrastinate_fetch_jobs(queues => array['b'], max_jobs => 5, worker_id => 9)$$,
    format('values (%s::bigint, 9::bigint), (%s::bigint, 9::bigint)', :second, :third),
    'queues, max_jobs and worker_id are taken by name'
);
select results_eq(
    $$select id from procrastinate_fetch_jobs(array['c'], 5)$$,
    format('values (%s::bigint)', :due_now),
    'a job scheduled at the current time is due, one a minute later is not'
);
select is(
    (select started_at from procrastinate_jobs where id = :due_now), now(),
    'started_at is the current time'
);
select is(
    procrastinate_get_job_status(:later), 'todo'::procrastinate_job_status,
    'the later job still waits'
);

select * from finish();
rollback;
