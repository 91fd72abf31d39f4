-- The least-privilege script (sql/optional/roles.sql): no role has any right
-- on a table, view or sequence (everything goes through functions running as
-- the owner), no internal helper is executable by a role, the producer defers
-- and reads the status and results of its own jobs only, the worker runs
-- jobs but not ops, the operator runs ops.
begin;
create extension if not exists pgtap;
\ir ../../../sql/optional/roles.sql
select plan(25);

select procrastinate_defer_job('seed', '{"secret": "s3cr3t"}') as seed_id \gset

select is_empty(
    $$select r.rolname, c.relname, p.privilege
      from pg_class as c
      cross join pg_roles as r
      cross join unnest(array[
          'select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger'
      ]) as p (privilege)
      where
          c.relname like 'procrastinate\_%'
          and c.relnamespace = 'public'::regnamespace
          and c.relkind in ('r', 'p')
          and r.rolname in (
              'procrastinate_producer', 'procrastinate_worker', 'procrastinate_operator',
              'procrastinate_reader'
          )
          and has_table_privilege(r.rolname, c.oid, p.privilege)$$,
    'no role has any privilege on any procrastinate_ table'
);
select is_empty(
    $$select r.rolname, c.relname
      from pg_class as c
      cross join pg_roles as r
      where
          c.relname like 'procrastinate\_%'
          and c.relnamespace = 'public'::regnamespace
          and c.relkind = 'S'
          and r.rolname in (
              'procrastinate_producer', 'procrastinate_worker', 'procrastinate_operator',
              'procrastinate_reader'
          )
          and (
              has_sequence_privilege(r.rolname, c.oid, 'usage')
              or has_sequence_privilege(r.rolname, c.oid, 'update')
          )$$,
    'no role may use a sequence of the queue'
);
select is_empty(
    $$select r.rolname, p.oid::regprocedure::text
      from pg_proc as p
      cross join pg_roles as r
      where
          p.proname like '\_procrastinate\_%'
          and p.pronamespace = 'public'::regnamespace
          and r.rolname in (
              'procrastinate_producer', 'procrastinate_worker', 'procrastinate_operator',
              'procrastinate_reader'
          )
          and has_function_privilege(r.rolname, p.oid, 'execute')$$,
    'no _procrastinate_ helper is executable by any of the four roles'
);
select is(
    (
        select array_agg(p.proname::text order by p.proname)
        from pg_proc as p
        where
            (p.proname like 'procrastinate\_%' or p.proname like '\_procrastinate\_%')
            and p.pronamespace = 'public'::regnamespace
            and has_function_privilege('procrastinate_producer', p.oid, 'execute')
    ),
    array[
        'procrastinate_applied_migrations_v1', 'procrastinate_defer_job',
        'procrastinate_defer_jobs', 'procrastinate_defer_jobs_v2',
        'procrastinate_get_job_status', 'procrastinate_get_job_status_v1',
        'procrastinate_job_result', 'procrastinate_job_results_v1'
    ],
    'the producer can execute the defer, status and result functions only'
);
select ok(
    not has_function_privilege(
        'procrastinate_worker', 'procrastinate_pause_queue_v1(text, timestamptz)', 'execute'
    )
    and not has_function_privilege(
        'procrastinate_worker', 'procrastinate_retry_failed_jobs(text, text)', 'execute'
    ),
    'the worker cannot execute the ops actions'
);
select is_empty(
    $$select p.oid::regprocedure::text
      from pg_proc as p
      where
          p.proname like 'procrastinate\_%'
          and p.pronamespace = 'public'::regnamespace
          and not has_function_privilege('procrastinate_operator', p.oid, 'execute')$$,
    'the operator can execute every procrastinate_ function'
);

set local role procrastinate_producer;

select isnt(
    procrastinate_defer_job('mail', '{"to": "a@b.c"}'), null,
    'the producer defers a job'
);
select throws_ok(
    'select args from procrastinate_jobs', '42501', null,
    'the producer cannot read jobs and their args'
);
select throws_ok(
    format('select procrastinate_cancel_job(%s)', :seed_id), '42501', null,
    'the producer cannot cancel'
);
select throws_ok(
    'update procrastinate_jobs set status = ''failed''', '42501', null,
    'the producer cannot change statuses'
);
select throws_ok(
    'select * from procrastinate_fetch_jobs_v2(null, null, 1)', '42501', null,
    'the producer cannot fetch jobs'
);

reset role;
set local role procrastinate_worker;

select is(
    (select count(*)::integer from procrastinate_fetch_jobs_v2(null, null, 10)), 2,
    'the worker fetches jobs'
);
select throws_ok(
    'delete from procrastinate_events', '42501', null,
    'the worker cannot delete events (the audit trail)'
);
select throws_ok(
    'select procrastinate_pause_queue(''default'')', '42501', null,
    'the worker cannot pause queues'
);

reset role;
set local role procrastinate_operator;

select is(
    procrastinate_pause_queue('default'), true,
    'the operator pauses a queue'
);

reset role;

select is(
    (
        select array_agg(p.proname::text order by p.proname)
        from pg_proc as p
        where
            (p.proname like 'procrastinate\_%' or p.proname like '\_procrastinate\_%')
            and p.pronamespace = 'public'::regnamespace
            and has_function_privilege('procrastinate_reader', p.oid, 'execute')
    ),
    array[
        'procrastinate_applied_migrations_v1', 'procrastinate_dashboard_id_bounds_v1',
        'procrastinate_dashboard_job_v1', 'procrastinate_dashboard_jobs_v1',
        'procrastinate_dashboard_jobs_v2',
        'procrastinate_dashboard_throughput_v1', 'procrastinate_dashboard_workers_v1',
        'procrastinate_failure_groups_v1', 'procrastinate_last_periodic_ticks_v1'
    ],
    'the reader can execute the dashboard''s reading functions only'
);

select is(
    (
        select array_agg(r.rolname || ': ' || c.relname order by r.rolname, c.relname)
        from pg_class as c
        cross join pg_roles as r
        where
            c.relkind = 'v'
            and c.relname like 'procrastinate\_%'
            and c.relnamespace = 'public'::regnamespace
            and r.rolname in ('procrastinate_operator', 'procrastinate_reader')
            and not has_table_privilege(r.rolname, c.oid, 'select')
    ),
    null,
    'the operator and the reader read every ops view (a view added later is granted too)'
);

create role pgtap_reader_login;
grant procrastinate_reader to pgtap_reader_login;
set local session authorization pgtap_reader_login;

select is(
    (select count(*)::integer from procrastinate_dashboard_jobs_v2() where id = :seed_id), 1,
    'a reader login lists every job'
);
select is(
    (select count(*)::integer from procrastinate_queue_backlog where queue_name = 'default'), 1,
    'a reader login reads the ops views'
);
select throws_ok(
    format('select procrastinate_retry_job(%s)', :seed_id), '42501', null,
    'a reader login cannot act on a job'
);
select throws_ok(
    'select args from procrastinate_jobs', '42501', null,
    'a reader login cannot read the table'
);

reset session authorization;

-- A producer login (session_user is what the queue checks for visibility).
create role pgtap_producer_login;
grant procrastinate_producer to pgtap_producer_login;
set local session authorization pgtap_producer_login;

select procrastinate_defer_job('own') as own_id \gset
select is(
    procrastinate_get_job_status(:own_id), 'todo'::procrastinate_job_status,
    'a producer login reads the status of a job it deferred'
);
select throws_ok(
    format('select procrastinate_get_job_status(%s)', :seed_id), 'PT003', null,
    'a job deferred by another login reads as unknown to the producer'
);
select is(
    (select status from procrastinate_job_result(:own_id)), 'todo'::procrastinate_job_status,
    'a producer login reads how a job it deferred stands'
);
select throws_ok(
    format('select * from procrastinate_job_result(%s)', :seed_id), 'PT003', null,
    'the result of a job deferred by another login reads as unknown to the producer'
);

reset session authorization;

select * from finish();
rollback;
