-- procrastinate_worker_stats and procrastinate_stalled_jobs answer the
-- operator and the reader of sql/optional/roles.sql, to whom they are
-- granted: they call no internal helper (a view runs its function calls with
-- the rights of whoever reads it, and no role executes a helper). Their
-- lease rule (_procrastinate_worker_leases) gives the answers of
-- _procrastinate_lease_expired.
begin;
create extension if not exists pgtap;
\ir ../../../sql/optional/roles.sql
set local client_min_messages = warning;
select plan(6);

select procrastinate_register_worker_v2('alive', null, 1, 'h1', 1) as alive \gset
-- a lease of 1 ms renewed a day ago: dead (never counted from before the
-- server started, which was less than a day ago in this test's world)
select procrastinate_register_worker_v2(
    'dead', null, 1, 'h2', 2, p_stalled_after => 0.001, p_now => now() - interval '1 day'
) as dead \gset
select procrastinate_defer_job('t') as job \gset
select count(*) from procrastinate_fetch_jobs_v5(:dead, null, 1, p_now => now() - interval '1 day');
-- a worker of 10 s whose last sign of life is 20 s old, after the server's start
select procrastinate_register_worker_v2(
    'silent', null, 1, 'h3', 3, p_stalled_after => 10
) as silent \gset
update procrastinate_workers
set
    last_heartbeat = greatest(now(), pg_postmaster_start_time() + interval '30 s')
    - interval '20 s'
where id = :silent;

select is(
    (
        select
            array_agg(
                l.alive = not _procrastinate_lease_expired(w.last_heartbeat, w.stalled_after, now())
            )
        from _procrastinate_worker_leases as l
        inner join procrastinate_workers as w on l.id = w.id
    ),
    array[true, true, true],
    'the views'' lease rule gives _procrastinate_lease_expired''s answer for every worker'
);

create role pgtap_ops_operator login;
grant procrastinate_operator to pgtap_ops_operator;
create role pgtap_ops_reader login;
grant procrastinate_reader to pgtap_ops_reader;

set local session authorization pgtap_ops_operator;
select results_eq(
    'select name, alive from procrastinate_worker_stats order by id',
    $$values ('alive'::text, true), ('dead', false), ('silent', false)$$,
    'the operator reads the workers and which are alive'
);
select results_eq(
    'select id, worker_name from procrastinate_stalled_jobs',
    format($$values (%s::bigint, 'dead'::text)$$, :job),
    'the operator reads the jobs of dead workers'
);
reset session authorization;

set local session authorization pgtap_ops_reader;
select results_eq(
    'select name, alive from procrastinate_worker_stats order by id',
    $$values ('alive'::text, true), ('dead', false), ('silent', false)$$,
    'the reader reads the workers and which are alive'
);
select results_eq(
    'select id, worker_name from procrastinate_stalled_jobs',
    format($$values (%s::bigint, 'dead'::text)$$, :job),
    'the reader reads the jobs of dead workers'
);
reset session authorization;

select is(
    (select count(*) from procrastinate_dashboard_workers_v1()),
    3::bigint,
    'the dashboard''s reading of the view is unchanged'
);

select * from finish();
rollback;
