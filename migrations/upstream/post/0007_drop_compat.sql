-- Converting a procrastinate 3.x database, post phase, step 7: once no
-- procrastinate 3.x worker or producer runs, what only they used goes: their
-- notification triggers, functions, composite type and foreign keys (ours has
-- none on worker_id nor on events: see sql/10_tables.sql). The key of
-- periodic defers is recreated with our "on delete set null", and a check
-- written differently from ours is recreated (not valid: step 11 validates).
-- Brief ACCESS EXCLUSIVE locks.
-- squawk-ignore-file ban-drop-function
-- squawk-ignore-file ban-drop-type
-- squawk-ignore-file ban-drop-constraint
-- squawk-ignore-file constraint-missing-not-valid
-- squawk-ignore-file adding-foreign-key-constraint
-- squawk-ignore-file require-statement-timeout
-- Allowed (squawk), why:
-- ban-drop-function, ban-drop-type, ban-drop-constraint: this step exists to
--   drop what only procrastinate 3.x used; run it once no 3.x code runs.
-- constraint-missing-not-valid, adding-foreign-key-constraint: on
--   procrastinate_periodic_defers, one row per periodic task: the validation
--   scan is instant.
-- require-statement-timeout: nothing here is slow once the locks are held.
set local lock_timeout = '10s';


drop trigger if exists procrastinate_jobs_notify_queue_job_inserted_v1 on procrastinate_jobs;
drop trigger if exists procrastinate_jobs_notify_queue_job_aborted_v1 on procrastinate_jobs;
drop trigger if exists procrastinate_trigger_delete_jobs_v1 on procrastinate_jobs;

drop function if exists procrastinate_notify_queue_job_inserted_v1();
drop function if exists procrastinate_notify_queue_abort_job_v1();
drop function if exists procrastinate_unlink_periodic_defers_v1();
drop function if exists procrastinate_trigger_function_status_events_insert_v1();
drop function if exists procrastinate_trigger_function_status_events_update_v1();
drop function if exists procrastinate_trigger_function_scheduled_events_v1();
drop function if exists procrastinate_trigger_abort_requested_events_procedure_v1();

drop function if exists procrastinate_defer_jobs_v1(procrastinate_job_to_defer_v1[]);
drop function if exists procrastinate_defer_periodic_job_v2(
    character varying, character varying, character varying, character varying,
    integer, character varying, bigint, jsonb
);
drop function if exists procrastinate_fetch_job_v2(character varying[], bigint);
drop function if exists procrastinate_finish_job_v1(bigint, procrastinate_job_status, boolean);
drop function if exists procrastinate_cancel_job_v1(bigint, boolean, boolean);
drop function if exists procrastinate_retry_job_v1(
    bigint, timestamptz, integer, character varying, character varying
);
drop function if exists procrastinate_retry_job_v2(
    bigint, timestamptz, integer, character varying, character varying
);
drop function if exists procrastinate_register_worker_v1();
drop function if exists procrastinate_update_heartbeat_v1(bigint);
drop function if exists procrastinate_prune_stalled_workers_v1(double precision);
drop type if exists procrastinate_job_to_defer_v1;

alter table procrastinate_jobs drop constraint if exists procrastinate_jobs_worker_id_fkey;
alter table procrastinate_events drop constraint if exists procrastinate_events_job_id_fkey;

-- 3.x unlinked periodic defers from deleted jobs with a trigger; ours does it
-- with the key. procrastinate_periodic_defers keeps one row per periodic task:
-- validating at once is instant.
alter table procrastinate_periodic_defers
drop constraint if exists procrastinate_periodic_defers_job_id_fkey;
alter table procrastinate_periodic_defers
add constraint procrastinate_periodic_defers_job_id_fkey foreign key (job_id)
references procrastinate_jobs (id) on delete set null;

-- Same rule as 3.x's, written as in sql/10_tables.sql.
alter table procrastinate_jobs
drop constraint if exists check_not_todo_abort_requested,
add constraint check_not_todo_abort_requested check (
    not (status = 'todo' and abort_requested)
) not valid;
