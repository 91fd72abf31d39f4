-- A rescued job ends instead of going back to todo when this rescue
-- reaches procrastinate_settings.max_rescues (3 by default), when its retry
-- policy is exhausted (failed), or when its abort was requested (aborted).
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

select procrastinate_register_worker_v2(
    'dead', null, 1, 'h', 1, p_now => '2030-01-01 00:00:00+00'
) as dead \gset

select procrastinate_defer_job('third_rescue', queue_name => 'r') as third_rescue \gset
select procrastinate_defer_job('second_rescue', queue_name => 'r') as second_rescue \gset
select procrastinate_defer_job(
    'out_of_attempts', queue_name => 'r', max_attempts => 1
) as out_of_attempts \gset
select procrastinate_defer_job(
    'one_attempt_left', queue_name => 'r', max_attempts => 2
) as one_left \gset
select procrastinate_defer_job('no_policy', queue_name => 'r') as no_policy \gset
select procrastinate_defer_job('aborting', queue_name => 'r') as aborting \gset
update procrastinate_jobs set rescue_count = 2 where id = :third_rescue;
update procrastinate_jobs set rescue_count = 1 where id = :second_rescue;
update procrastinate_jobs set attempts = 1 where id in (:out_of_attempts, :one_left);
select count(*) as claimed
from procrastinate_fetch_jobs_v2(:dead, array['r'], 10, p_now => '2030-01-01 00:00:00+00') \gset
select procrastinate_cancel_job(:aborting, abort => true) as abort_requested \gset

select results_eq(
    $$select job_id, status
      from procrastinate_rescue_stalled_jobs_v2(null, p_now => '2030-01-01 01:00:00+00')$$,
    format(
        $$values (%s::bigint, 'failed'::procrastinate_job_status), (%s, 'todo'), (%s, 'failed'),
                 (%s, 'todo'), (%s, 'todo'), (%s, 'aborted')$$,
        :third_rescue, :second_rescue, :out_of_attempts, :one_left, :no_policy, :aborting
    ),
    'the third rescue and an exhausted policy end failed, an abort ends aborted, the rest retry'
);
select results_eq(
    format(
        $$select rescue_count, attempts, finished_at from procrastinate_jobs where id = %s$$,
        :third_rescue
    ),
    $$values (3, 1, '2030-01-01 01:00:00+00'::timestamptz)$$,
    'the job rescued three times is finished at p_now'
);
select is(
    (select last_error from procrastinate_jobs where id = :third_rescue),
    format('worker %s stopped heartbeating while running this job (rescue 3 of at most 3)', :dead),
    'its last error counts the rescues'
);
select results_eq(
    format('select attempts, finished_at from procrastinate_jobs where id = %s', :out_of_attempts),
    $$values (2, '2030-01-01 01:00:00+00'::timestamptz)$$,
    'the job out of attempts is finished at p_now'
);
select results_eq(
    format(
        'select abort_requested, finished_at, worker_id from procrastinate_jobs where id = %s',
        :aborting
    ),
    $$values (false, '2030-01-01 01:00:00+00'::timestamptz, null::bigint)$$,
    'the aborted job is finished, its abort request cleared'
);
select is_empty(
    format('select 1 from procrastinate_workers where id = %s', :dead),
    'the dead worker is removed once its jobs are taken back'
);

select * from finish();
rollback;
