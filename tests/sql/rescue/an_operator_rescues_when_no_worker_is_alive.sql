-- procrastinate_rescue_stalled_jobs(): with no live worker to rescue on its
-- heartbeat, the operator takes back the jobs of dead workers at once.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(3);

-- A worker whose 1 ms lease ran out an hour ago, holding one job; a live one
-- holding another.
select procrastinate_register_worker_v2(
    'dead', null, 1, 'h', 1, p_stalled_after => 0.001, p_now => now() - interval '1 hour'
) as dead \gset
select procrastinate_defer_job('t', queue_name => 'of_dead') as of_dead \gset
select count(*) as c1
from procrastinate_fetch_jobs_v2(
    :dead, array['of_dead'], 1, p_now => now() - interval '1 hour'
) \gset
select procrastinate_register_worker_v2('alive', null, 1, 'h', 2) as alive \gset
select procrastinate_defer_job('t', queue_name => 'of_alive') as of_alive \gset
select count(*) as c2 from procrastinate_fetch_jobs_v2(:alive, array['of_alive'], 1) \gset

select results_eq(
    'select job_id, status from procrastinate_rescue_stalled_jobs()',
    format($$values (%s::bigint, 'todo'::procrastinate_job_status)$$, :of_dead),
    'the dead worker''s job goes back to the queue'
);
select results_eq(
    format('select status::text from procrastinate_jobs where id = %s', :of_alive),
    $$values ('doing')$$,
    'the live worker keeps its job'
);
select is_empty(
    'select job_id from procrastinate_rescue_stalled_jobs()',
    'a second call finds nothing left to rescue'
);

select * from finish();
rollback;
