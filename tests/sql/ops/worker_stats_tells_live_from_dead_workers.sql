-- procrastinate_worker_stats: one row per worker with its running jobs and
-- whether its last heartbeat is younger than its lease: its own stalled_after,
-- else procrastinate_settings.stalled_worker_timeout.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

select is(
    (select stalled_worker_timeout from procrastinate_settings), 30::double precision,
    'the stall threshold defaults to 30 s'
);
-- A lease never runs out less than a lease after the server started
-- (58_leases.sql): a short one, so that the test holds on a server started
-- seconds ago.
update procrastinate_settings set stalled_worker_timeout = 1;

select procrastinate_register_worker_v2('alive', array['a'], 4, 'h1', 10) as alive \gset
select procrastinate_register_worker_v2(
    'dead', null, 1, 'h2', 20, p_now => now() - interval '1 hour'
) as dead \gset
select procrastinate_defer_job('a1', queue_name => 'a') as a1 \gset
select procrastinate_defer_job('a2', queue_name => 'a') as a2 \gset
select count(*) as claimed from procrastinate_fetch_jobs_v2(:alive, array['a'], 10) \gset

select results_eq(
    format(
        $$select name, host, pid, queues, concurrency, running_jobs, alive
          from procrastinate_worker_stats where id = %s$$,
        :alive
    ),
    $$values ('alive'::text, 'h1'::text, 10, array['a'], 4, 2::bigint, true)$$,
    'a live worker with its two running jobs'
);
select results_eq(
    format(
        'select running_jobs, last_heartbeat, alive from procrastinate_worker_stats where id = %s',
        :dead
    ),
    $$values (0::bigint, now() - interval '1 hour', false)$$,
    'a worker silent for an hour is not alive'
);

select procrastinate_register_worker_v2(
    'leased', null, 1, 'h3', 30, p_stalled_after => 7200, p_now => now() - interval '1 hour'
) as leased \gset
select is(
    (select alive from procrastinate_worker_stats where id = :leased), true,
    'a worker silent for an hour with a 2 hour lease of its own counts as alive'
);

set local procrastinate.stalled_worker_timeout = 7200;
select is(
    (select alive from procrastinate_worker_stats where id = :dead), false,
    'the former setting procrastinate.stalled_worker_timeout is not read'
);

update procrastinate_settings set stalled_worker_timeout = 7200;
select is(
    (select alive from procrastinate_worker_stats where id = :dead), true,
    'with procrastinate_settings.stalled_worker_timeout at 2 hours the silent worker is alive'
);

select * from finish();
rollback;
