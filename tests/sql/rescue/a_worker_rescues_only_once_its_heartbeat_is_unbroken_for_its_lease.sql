-- After an outage that silenced its own heartbeat, a worker may rescue others
-- only once its heartbeat has been unbroken for its lease again (alive_since
-- a lease old): the other live workers get a lease to beat again first. A
-- worker whose heartbeat never broke since it registered rescues at once (a
-- worker started after a crash takes the dead's jobs).
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(8);

select procrastinate_register_worker_v2(
    'dead', null, 1, 'h', 1, p_stalled_after => 60, p_now => '2030-01-01 00:00:00+00'
) as dead \gset
select procrastinate_register_worker_v2(
    'back', null, 1, 'h', 2, p_stalled_after => 60, p_now => '2030-01-01 00:00:00+00'
) as back \gset
select procrastinate_defer_job('of_dead', queue_name => 'd') as of_dead \gset
select count(*) as claimed
from procrastinate_fetch_jobs_v2(:dead, array['d'], 1, p_now => '2030-01-01 00:00:00+00') \gset

select procrastinate_heartbeat_v2(:back, '2030-01-01 00:00:30+00') as beat_1 \gset
select is(
    (select alive_since from procrastinate_workers where id = :back),
    '2030-01-01 00:00:00+00'::timestamptz,
    'beats closer than the lease keep alive_since'
);

-- silent from 00:00:30 to 00:05:00: longer than its 60 s lease
select procrastinate_heartbeat_v2(:back, '2030-01-01 00:05:00+00') as beat_2 \gset
select is(
    (select alive_since from procrastinate_workers where id = :back),
    '2030-01-01 00:05:00+00'::timestamptz,
    'a beat after a gap longer than the lease restarts alive_since'
);

select is_empty(
    format(
        $$select * from procrastinate_rescue_stalled_jobs_v2(
            %s, p_now => '2030-01-01 00:05:30+00'
        )$$,
        :back
    ),
    'half a lease after its return, the worker rescues nothing'
);
select results_eq(
    format('select status, worker_id from procrastinate_jobs where id = %s', :of_dead),
    format($$values ('doing'::procrastinate_job_status, %s::bigint)$$, :dead),
    'the silent worker keeps its job meanwhile'
);
select is(
    procrastinate_heartbeat_v2(:back, '2030-01-01 00:05:45+00'), 60::double precision,
    'the returning worker keeps beating'
);
select results_eq(
    format(
        $$select job_id, status
          from procrastinate_rescue_stalled_jobs_v2(%s, p_now => '2030-01-01 00:06:00+00')$$,
        :back
    ),
    format($$values (%s::bigint, 'todo'::procrastinate_job_status)$$, :of_dead),
    'a lease after its return, the worker rescues the silent worker''s job'
);
select is(
    (select alive_since from procrastinate_workers where id = :back),
    '2030-01-01 00:05:00+00'::timestamptz,
    'alive_since stays at the end of the gap while beats keep coming'
);

select procrastinate_register_worker_v2(
    'dead2', null, 1, 'h', 3, p_stalled_after => 60, p_now => '2030-01-01 00:06:00+00'
) as dead2 \gset
select procrastinate_defer_job('of_dead2', queue_name => 'd2') as of_dead2 \gset
select count(*) as claimed2
from procrastinate_fetch_jobs_v2(:dead2, array['d2'], 1, p_now => '2030-01-01 00:06:00+00') \gset
select procrastinate_register_worker_v2(
    'fresh', null, 1, 'h', 4, p_stalled_after => 60, p_now => '2030-01-01 00:08:00+00'
) as fresh \gset
select results_eq(
    format(
        $$select job_id from procrastinate_rescue_stalled_jobs_v2(
            %s, p_now => '2030-01-01 00:08:00+00'
        )$$,
        :fresh
    ),
    format('values (%s::bigint)', :of_dead2),
    'a worker that just registered, its heartbeat never broken, rescues at once'
);

select * from finish();
rollback;
