-- Jobs held by a worker silent for longer than its lease (the stalled_after
-- it registered with), or whose worker row is gone, go back to todo, the run
-- counted as an attempt and a rescue; the dead worker is removed. Live
-- workers keep their jobs.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(9);

select procrastinate_register_worker_v2(
    'dead', null, 1, 'h', 1, p_stalled_after => 60, p_now => '2030-01-01 00:00:00+00'
) as dead \gset
select procrastinate_register_worker_v2(
    'alive', null, 1, 'h', 2, p_stalled_after => 60, p_now => '2030-01-01 00:00:00+00'
) as alive \gset
select procrastinate_heartbeat_v2(:alive, '2030-01-01 00:00:50+00') as beat \gset

select procrastinate_defer_job('of_dead', queue_name => 'd') as of_dead \gset
select procrastinate_defer_job('of_alive', queue_name => 'a') as of_alive \gset
select procrastinate_defer_job('of_gone', queue_name => 'g') as of_gone \gset
select procrastinate_defer_job('anonymous', queue_name => 'n') as anonymous \gset
select count(*) as c1
from procrastinate_fetch_jobs_v2(:dead, array['d'], 1, p_now => '2030-01-01 00:00:00+00') \gset
select count(*) as c2
from procrastinate_fetch_jobs_v2(:alive, array['a'], 1, p_now => '2030-01-01 00:00:00+00') \gset
select count(*) as c3
from procrastinate_fetch_jobs_v2(
    :dead + 1000, array['g'], 1, p_now => '2030-01-01 00:00:00+00'
) \gset
select count(*) as c4
from procrastinate_fetch_jobs_v2(null, array['n'], 1, p_now => '2030-01-01 00:00:00+00') \gset

select results_eq(
    $$select job_id, status
      from procrastinate_rescue_stalled_jobs_v2(null, p_now => '2030-01-01 00:00:30+00')$$,
    format($$values (%s::bigint, 'todo'::procrastinate_job_status)$$, :of_gone),
    'within the threshold only the job whose worker row is gone is rescued'
);
select results_eq(
    format(
        $$select job_id, status
          from procrastinate_rescue_stalled_jobs_v2(%s, p_now => '2030-01-01 00:01:30+00')$$,
        :alive
    ),
    format($$values (%s::bigint, 'todo'::procrastinate_job_status)$$, :of_dead),
    'after 90 s of silence, the job of the dead worker is rescued by the live one'
);
select results_eq(
    format(
        $$select status, attempts, rescue_count, worker_id, finished_at, last_error_types
          from procrastinate_jobs where id = %s$$,
        :of_dead
    ),
    $$values ('todo'::procrastinate_job_status, 1, 1, null::bigint, null::timestamptz,
              array['WorkerStalled'])$$,
    'the rescued job waits again: run and rescue counted, no worker'
);
select is(
    (select last_error from procrastinate_jobs where id = :of_dead),
    format('worker %s stopped heartbeating while running this job (rescue 1 of at most 3)', :dead),
    'its last error says which worker stalled'
);
select results_eq(
    format('select status, worker_id from procrastinate_jobs where id = %s', :of_alive),
    format($$values ('doing'::procrastinate_job_status, %s::bigint)$$, :alive),
    'the job of the live worker is untouched'
);
select results_eq(
    format('select status, worker_id from procrastinate_jobs where id = %s', :anonymous),
    $$values ('doing'::procrastinate_job_status, null::bigint)$$,
    'a job fetched without worker id is never rescued'
);
select is(
    (select array_agg(id order by id) from procrastinate_workers where id in (:dead, :alive)),
    array[:alive::bigint],
    'the dead worker is removed, the live one kept'
);
select is(
    procrastinate_heartbeat_v2(:dead, '2030-01-01 00:01:31+00'), null,
    'a late heartbeat of the removed worker returns null'
);
select is_empty(
    $$select * from procrastinate_rescue_stalled_jobs_v2(null, p_now => '2030-01-01 00:01:30+00')$$,
    'a second call finds nothing left to rescue'
);

select * from finish();
rollback;
