-- A claimed job is doing, held by the fetching worker since p_now; the
-- returned row describes it.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

select procrastinate_defer_job(
    'sum_task', '{"a": 3}', queue_name => 'math', priority => 2, lock => 'L',
    queueing_lock => 'Q'
) as claimed \gset
select procrastinate_defer_job('left_alone', priority => -5) as left_alone \gset

select results_eq(
    $$select id, queue_name, task_name, priority, lock, queueing_lock, args, status,
             scheduled_at, attempts, abort_requested, worker_id
      from procrastinate_fetch_jobs_v2(42, null, 1, p_now => '2030-01-01 00:00:00+00')$$,
    format(
        $$values (%s::bigint, 'math'::text, 'sum_task'::text, 2, 'L'::text, 'Q'::text,
                  '{"a": 3}'::jsonb, 'doing'::procrastinate_job_status, null::timestamptz,
                  0, false, 42::bigint)$$,
        :claimed
    ),
    'the fetch returns the claimed job, doing and held by the worker'
);
select results_eq(
    format(
        'select status, worker_id, started_at from procrastinate_jobs where id = %s', :claimed
    ),
    $$values ('doing'::procrastinate_job_status, 42::bigint,
              '2030-01-01 00:00:00+00'::timestamptz)$$,
    'the stored job is doing, with worker_id and started_at = p_now'
);
select results_eq(
    format(
        'select status, worker_id, started_at from procrastinate_jobs where id = %s',
        :left_alone
    ),
    $$values ('todo'::procrastinate_job_status, null::bigint, null::timestamptz)$$,
    'the job beyond the limit is untouched'
);
select results_eq(
    $$select status, worker_id from procrastinate_fetch_jobs(max_jobs => 5)$$,
    $$values ('doing'::procrastinate_job_status, null::bigint)$$,
    'a job fetched without a worker id is doing with a null worker_id'
);

select * from finish();
rollback;
