-- procrastinate_worker_stats: one row per worker with its running jobs and
-- whether its last heartbeat is younger than procrastinate.stalled_worker_timeout.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(5);

select procrastinate_register_worker_v1('alive', array['a'], 4, 'h1', 10) as alive \gset
select procrastinate_register_worker_v1(
    'dead', null, 1, 'h2', 20, now() - interval '1 hour'
) as dead \gset
select procrastinate_defer_job('a1', queue_name => 'a') as a1 \gset
select procrastinate_defer_job('a2', queue_name => 'a') as a2 \gset
select count(*) as claimed from procrastinate_fetch_jobs_v1(:alive, array['a'], 10, now()) \gset

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
select is(
    procrastinate_stalled_worker_timeout_v1(), interval '30 seconds',
    'the stall threshold defaults to 30 s'
);

set local procrastinate.stalled_worker_timeout = 7200;

select is(
    procrastinate_stalled_worker_timeout_v1(), interval '2 hours',
    'the stall threshold follows the setting'
);
select is(
    (select alive from procrastinate_worker_stats where id = :dead), true,
    'with a 2 hour threshold the silent worker counts as alive'
);

select * from finish();
rollback;
