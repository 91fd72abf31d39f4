-- Least privilege: four group roles for the four kinds of users (what each
-- may and may not do: docs/security.md). Not part of the schema: run it once
-- per database after installing, as the owner of the schema
-- (psql -f sql/optional/roles.sql), then grant the roles to login roles:
-- grant procrastinate_producer to web_app;
--
--   procrastinate_producer  defers jobs and reads the status of the jobs its
--                           login role deferred; nothing else
--   procrastinate_worker    what a worker needs: fetch, finish, heartbeat,
--                           rescue, periodic defers, listings, retention
--   procrastinate_operator  a worker's rights, every user-facing function and
--                           the ops views
--   procrastinate_reader    reads only: the web dashboard's reading functions
--                           and the ops views, for a read-only dashboard;
--                           changes nothing (not even a worker's rights)
--
-- No role gets any right on the tables: every function a role may call runs
-- as the owner (security definer, search_path pinned with pg_temp last) and
-- enforces its own rules (fencing, a worker id used only by the login role
-- that registered it, a clock only the owner may pin). Internal helpers
-- (_procrastinate_*) are granted to nobody.
--
-- Re-running it is harmless. It revokes the default EXECUTE of PUBLIC on the
-- queue's functions, so roles outside these three lose access to them, and
-- CREATE on schema public from PUBLIC (PostgreSQL 15's default), so that no
-- caller can plant a function or operator that our functions would find.

do $$
declare
    v_role text;
begin
    foreach v_role in array array[
        'procrastinate_producer', 'procrastinate_worker', 'procrastinate_operator',
        'procrastinate_reader'
    ] loop
        if not exists (select 1 from pg_roles where rolname = v_role) then
            execute format('create role %I nologin', v_role);
        end if;
    end loop;
end;
$$;

revoke create on schema public from public;

-- No right on the tables, views or sequences (an older roles.sql granted
-- some: re-running this one takes them back).
do $$
declare
    v_relation regclass;
begin
    for v_relation in
        select c.oid::regclass
        from pg_class as c
        where
            c.relname like 'procrastinate\_%'
            and c.relnamespace = 'public'::regnamespace
            and c.relkind in ('r', 'v', 'S', 'p')
    loop
        execute format(
            'revoke all on %s from procrastinate_producer, procrastinate_worker, '
            'procrastinate_operator, procrastinate_reader',
            v_relation
        );
    end loop;
end;
$$;

-- Nobody but the owner calls a queue function unless granted below.
do $$
declare
    v_function regprocedure;
begin
    for v_function in
        select p.oid::regprocedure
        from pg_proc as p
        where
            (p.proname like 'procrastinate\_%' or p.proname like '\_procrastinate\_%')
            and p.pronamespace = 'public'::regnamespace
    loop
        execute format('revoke execute on function %s from public', v_function);
    end loop;
end;
$$;

-- Producer: defers and reads the status of its own jobs.
grant execute on function
procrastinate_defer_job(
    text, jsonb, text, integer, text, text, timestamptz, integer,
    double precision, double precision, double precision, text[], integer, boolean, bigint[],
    text, text, double precision, double precision, double precision
),
procrastinate_defer_jobs(jsonb),
procrastinate_defer_jobs_v2(jsonb, timestamptz),
procrastinate_get_job_status(bigint),
procrastinate_get_job_status_v1(bigint),
procrastinate_job_result(bigint),
procrastinate_job_results_v1(bigint[]),
procrastinate_applied_migrations_v1()
to procrastinate_producer;

-- Worker: a producer that also runs jobs.
grant procrastinate_producer to procrastinate_worker;
grant execute on function
procrastinate_fetch_jobs_v2(bigint, text[], integer, uuid, boolean, timestamptz),
procrastinate_fetch_jobs_v3(bigint, text[], integer, uuid, boolean, timestamptz),
procrastinate_fetch_jobs_v4(bigint, text[], integer, uuid, boolean, timestamptz, integer),
procrastinate_fetch_jobs_v5(bigint, text[], integer, uuid, boolean, timestamptz, integer),
procrastinate_fetch_jobs(text[], integer, bigint),
procrastinate_register_limits_v1(jsonb),
procrastinate_register_limits_v2(jsonb),
procrastinate_limit_wait_v1(text[]),
procrastinate_finish_jobs_v1(bigint, jsonb, text, timestamptz),
procrastinate_finish_job(bigint, text, text, text[], bigint, integer, jsonb),
procrastinate_retry_delay_v1(integer, double precision, double precision, double precision),
procrastinate_register_worker_v2(
    text, text[], integer, text, integer, double precision, timestamptz
),
procrastinate_heartbeat_v2(bigint, timestamptz),
procrastinate_unregister_worker_v2(bigint, timestamptz),
procrastinate_release_jobs_v2(bigint, bigint[], timestamptz),
procrastinate_jobs_to_abort_v1(bigint),
procrastinate_rescue_stalled_jobs_v2(bigint, timestamptz),
procrastinate_reconcile_held_jobs_v1(bigint, bigint[], timestamptz),
procrastinate_defer_periodic_job_v1(text, text, bigint, jsonb),
procrastinate_last_periodic_ticks_v1(),
procrastinate_list_jobs_v1(
    bigint, text, text, text, text, text, bigint, boolean, double precision, double precision,
    timestamptz
),
procrastinate_job_counts_v1(text, text, text, text, text),
-- the builtin task procrastinate.builtin_tasks.remove_old_jobs runs on workers
procrastinate_remove_old_jobs_v1(double precision, text, text[], integer, timestamptz)
to procrastinate_worker;

-- Operator: the worker's rights, every other procrastinate_ function (never
-- the _procrastinate_ helpers) and the ops views.
grant procrastinate_worker to procrastinate_operator;
do $$
declare
    v_function regprocedure;
begin
    for v_function in
        select p.oid::regprocedure
        from pg_proc as p
        where
            p.proname like 'procrastinate\_%'
            and p.pronamespace = 'public'::regnamespace
    loop
        execute format('grant execute on function %s to procrastinate_operator', v_function);
    end loop;
end;
$$;
grant select on
procrastinate_queue_stats, procrastinate_queue_backlog, procrastinate_task_stats,
procrastinate_lock_stats,
procrastinate_worker_stats, procrastinate_failed_jobs, procrastinate_stalled_jobs,
procrastinate_job_transitions, procrastinate_limit_stats, procrastinate_overdue_jobs
to procrastinate_operator;

-- Reader: what a read-only dashboard shows, nothing that changes the queue
-- (no action, no fetch, no defer). Its reading functions see every job
-- (_procrastinate_sees_all_jobs counts a reader in).
grant execute on function
procrastinate_dashboard_workers_v1(),
procrastinate_dashboard_throughput_v1(interval, integer, timestamptz),
procrastinate_dashboard_id_bounds_v1(timestamptz, timestamptz),
procrastinate_dashboard_jobs_v1(text, text, text, text, bigint, bigint, integer),
procrastinate_dashboard_jobs_v2(
    text, text, text, text, bigint, bigint, integer, bigint, jsonb, timestamptz, timestamptz
),
procrastinate_dashboard_job_v1(bigint),
procrastinate_failure_groups_v1(),
procrastinate_last_periodic_ticks_v1(),
procrastinate_applied_migrations_v1()
to procrastinate_reader;
grant select on
procrastinate_queue_stats, procrastinate_queue_backlog, procrastinate_task_stats,
procrastinate_lock_stats,
procrastinate_worker_stats, procrastinate_failed_jobs, procrastinate_stalled_jobs,
procrastinate_job_transitions, procrastinate_limit_stats, procrastinate_overdue_jobs
to procrastinate_reader;
