-- Least privilege: three group roles for the three kinds of users.
-- Not part of the schema: run it once per database after installing, as the
-- owner of the schema (psql -f sql/optional/roles.sql), then grant the roles
-- to login roles: grant procrastinate_producer to web_app;
--
--   procrastinate_producer  defers jobs and reads the status of a job by id;
--                           cannot read jobs (their args), cancel or change them
--   procrastinate_worker    what the Python worker needs: fetch, finish,
--                           heartbeat, rescue, periodic defers, listings
--   procrastinate_operator  everything, including the ops views and actions
--
-- Re-running it is harmless. It revokes the default EXECUTE of PUBLIC on the
-- queue's functions, so roles outside these three lose access to them.

do $$
declare
    v_role text;
begin
    foreach v_role in array array[
        'procrastinate_producer', 'procrastinate_worker', 'procrastinate_operator'
    ] loop
        if not exists (select 1 from pg_roles where rolname = v_role) then
            execute format('create role %I nologin', v_role);
        end if;
    end loop;
end;
$$;

-- Producer: the defer functions run as their owner (security definer), so no
-- table privilege is granted at all.
grant execute on function
procrastinate_defer_job(
    text, jsonb, text, integer, text, text, timestamptz, integer,
    double precision, double precision, double precision, text[]
),
procrastinate_defer_jobs(jsonb),
procrastinate_defer_jobs_v1(jsonb),
procrastinate_validate_jobs_v1(jsonb),
procrastinate_get_job_status(bigint)
to procrastinate_producer;

-- Worker: a producer that also runs jobs.
grant procrastinate_producer to procrastinate_worker;
grant select, insert, update, delete on
procrastinate_jobs, procrastinate_events, procrastinate_workers,
procrastinate_periodic_defers
to procrastinate_worker;
grant select on procrastinate_paused_queues, procrastinate_migrations
to procrastinate_worker;
grant usage on all sequences in schema public to procrastinate_worker;
grant execute on function
procrastinate_fetch_jobs_v1(bigint, text[], integer, timestamptz),
procrastinate_finish_jobs_v1(bigint, jsonb, text, timestamptz),
procrastinate_apply_outcomes_v1(bigint, jsonb, text, timestamptz),
procrastinate_retry_delay_v1(integer, double precision, double precision, double precision),
procrastinate_register_worker_v1(text, text[], integer, text, integer, timestamptz),
procrastinate_heartbeat_v1(bigint, timestamptz),
procrastinate_unregister_worker_v1(bigint),
procrastinate_release_jobs_v1(bigint, bigint[]),
procrastinate_jobs_to_abort_v1(bigint),
procrastinate_rescue_stalled_jobs_v1(double precision, integer, timestamptz),
procrastinate_defer_periodic_job_v1(text, text, bigint, jsonb),
procrastinate_last_periodic_ticks_v1(),
procrastinate_notify_v1(text, text, jsonb),
procrastinate_record_insert_events_v1(),
procrastinate_record_update_events_v1(),
procrastinate_delete_events_v1(),
procrastinate_notify_inserted_jobs_v1(),
procrastinate_notify_updated_jobs_v1(),
procrastinate_stalled_worker_timeout_v1()
to procrastinate_worker;

-- Operator: the worker's rights, every function and the ops views. The same
-- loop takes away the default EXECUTE of PUBLIC on every queue function, so
-- only these roles (and the owner) call them.
grant procrastinate_worker to procrastinate_operator;
grant all on all tables in schema public to procrastinate_operator;
do $$
declare
    v_function regprocedure;
begin
    for v_function in
        select p.oid::regprocedure
        from pg_proc as p
        where p.proname like 'procrastinate\_%'
            and p.pronamespace = 'public'::regnamespace
    loop
        execute format('revoke execute on function %s from public', v_function);
        execute format('grant execute on function %s to procrastinate_operator', v_function);
    end loop;
end;
$$;
