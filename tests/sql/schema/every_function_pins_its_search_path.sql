-- Every function of the queue pins its search_path with pg_temp last (so no
-- temporary object of a caller can stand in for one of ours), and exactly the
-- functions a role of sql/optional/roles.sql calls that touch the tables run
-- as their owner.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

select is_empty(
    $$select p.oid::regprocedure::text
      from pg_proc as p
      where
          (p.proname like 'procrastinate\_%' or p.proname like '\_procrastinate\_%')
          and p.pronamespace = 'public'::regnamespace
          and not exists (
              select 1 from unnest(p.proconfig) as c (setting)
              where c.setting like 'search\_path=%'
          )$$,
    'every procrastinate_ and _procrastinate_ function sets its search_path'
);
select is_empty(
    $$select p.oid::regprocedure::text, c.setting
      from pg_proc as p
      cross join lateral unnest(p.proconfig) as c (setting)
      where
          (p.proname like 'procrastinate\_%' or p.proname like '\_procrastinate\_%')
          and p.pronamespace = 'public'::regnamespace
          and c.setting like 'search\_path=%'
          and c.setting !~ ', pg_temp$'$$,
    'every search_path ends with pg_temp (PostgreSQL searches it first when it is not listed)'
);
select is_empty(
    $$select p.oid::regprocedure::text, c.setting
      from pg_proc as p
      cross join lateral unnest(p.proconfig) as c (setting)
      where
          (p.proname like 'procrastinate\_%' or p.proname like '\_procrastinate\_%')
          and p.pronamespace = 'public'::regnamespace
          and c.setting like 'search\_path=%'
          and c.setting <> 'search_path=pg_catalog, public, pg_temp'$$,
    'every search_path is exactly pg_catalog, public, pg_temp'
);
select is(
    (
        select array_agg(p.proname::text order by p.proname)
        from pg_proc as p
        where
            (p.proname like 'procrastinate\_%' or p.proname like '\_procrastinate\_%')
            and p.pronamespace = 'public'::regnamespace
            and p.prosecdef
    ),
    array[
        'procrastinate_applied_migrations_v1', 'procrastinate_cancel_job_v1',
        'procrastinate_cancel_jobs', 'procrastinate_dashboard_id_bounds_v1',
        'procrastinate_dashboard_job_v1',
        'procrastinate_dashboard_jobs_v2',
        'procrastinate_dashboard_throughput_v1', 'procrastinate_dashboard_workers_v1',
        'procrastinate_defer_jobs_v2',
        'procrastinate_defer_periodic_job_v1', 'procrastinate_failure_groups_v1',
        'procrastinate_fetch_jobs_v5',
        'procrastinate_finish_jobs_v1', 'procrastinate_get_job_status_v1',
        'procrastinate_heartbeat_v2', 'procrastinate_job_counts_v1',
        'procrastinate_job_results_v1',
        'procrastinate_jobs_to_abort_v1', 'procrastinate_last_periodic_ticks_v1',
        'procrastinate_limit_wait_v1',
        'procrastinate_list_jobs_v1', 'procrastinate_pause_queue_v1',
        'procrastinate_reconcile_held_jobs_v1', 'procrastinate_register_limits_v1',
        'procrastinate_register_limits_v2', 'procrastinate_register_worker_v2',
        'procrastinate_release_jobs_v2', 'procrastinate_remove_limit',
        'procrastinate_remove_old_jobs_v1',
        'procrastinate_rescue_stalled_jobs_v2', 'procrastinate_resume_queue_v1',
        'procrastinate_retry_failed_jobs', 'procrastinate_retry_failure_group_v1',
        'procrastinate_retry_job_v1', 'procrastinate_set_limit',
        'procrastinate_unregister_worker_v2', 'procrastinate_why_waiting'
    ],
    'the security definer functions are the versioned ones, the bulk ops actions and the diagnosis'
);
-- A function a role may call that reads or writes a table itself must run as
-- the owner (no role has a right on the tables); the user-facing wrappers
-- only call a definer _vN.
select is_empty(
    $$select p.oid::regprocedure::text
      from pg_proc as p
      where
          p.proname like 'procrastinate\_%'
          and p.pronamespace = 'public'::regnamespace
          and not p.prosecdef
          and p.prosrc ~* (
              '(from|join|into|update)\s+procrastinate_'
              || '(jobs|workers|events|periodic_defers|paused_queues|settings|migrations)\M'
          )$$,
    'no function a role may call touches a table without running as the owner'
);
select is_empty(
    $$select p.oid::regprocedure::text
      from pg_proc as p
      where
          p.proname like '\_procrastinate\_%'
          and p.pronamespace = 'public'::regnamespace
          and p.prosecdef$$,
    'no internal helper runs as its owner (they run inside a definer function)'
);
select is(
    (
        select count(*)::integer
        from pg_proc as p
        where
            (p.proname like 'procrastinate\_%' or p.proname like '\_procrastinate\_%')
            and p.pronamespace = 'public'::regnamespace
            and p.proname in (
                select p2.proname from pg_proc as p2
                where p2.pronamespace = 'public'::regnamespace
                group by p2.proname having count(*) > 1
            )
    ),
    0,
    'no procrastinate_ function is overloaded'
);

select * from finish();
rollback;
