-- Types shared by the whole queue, and the state machine of a job.
--
-- A job's life: new -> todo -> doing -> succeeded | failed | aborted, or
-- todo -> cancelled; a run that ends without an outcome may go back to todo.
-- Every transition, and the one function that makes it, is a row of the view
-- procrastinate_job_transitions below (tests/sql/schema/ keeps it true: a
-- function that writes procrastinate_jobs and is missing from it fails).
--
-- A pending abort (abort_requested on a doing job) is never retried: however
-- the run ends without a success (the worker's report, unregister, rescue,
-- release of an unstarted job), the job ends aborted. The one exception is
-- procrastinate_retry_job on such a job, which ends it failed, as
-- procrastinate 3.x does. (procrastinate 3.x's old status 'aborting' is gone:
-- post migration 0021, see docs/deploy.md.)

create type procrastinate_job_status as enum (
    'todo',
    'doing',
    'succeeded',
    'failed',
    'cancelled',
    'aborted'
);

create type procrastinate_job_event_type as enum (
    'deferred',
    'started',
    'deferred_for_retry',
    'failed',
    'succeeded',
    'cancelled',
    'abort_requested',
    'aborted',
    'scheduled',
    'retried',
    -- a job claimed ahead (prefetch) and given back unstarted: it never ran
    'released'
);

create view procrastinate_job_transitions as
select
    t.from_status,
    t.to_status,
    t.function_name,
    t.attempts
from (
    values
    ('(new)', 'todo', '_procrastinate_insert_jobs', 'set to 0'),
    ('todo', 'doing', 'procrastinate_fetch_jobs_v5', 'kept'),
    ('todo', 'cancelled', 'procrastinate_cancel_job_v1', 'kept'),
    ('todo', '(deleted)', 'procrastinate_cancel_job_v1', '-'),
    ('todo', 'cancelled', 'procrastinate_cancel_jobs', 'kept'),
    ('doing', 'succeeded', '_procrastinate_apply_outcomes', '+1'),
    ('doing', 'failed', '_procrastinate_apply_outcomes', '+1'),
    ('doing', 'aborted', '_procrastinate_apply_outcomes', '+1'),
    ('doing', 'todo', '_procrastinate_apply_outcomes', '+1 (retry by policy or decision)'),
    ('doing', '(deleted)', '_procrastinate_apply_outcomes', '-'),
    ('doing', 'todo', 'procrastinate_retry_job_v1', '+1'),
    ('doing', 'failed', 'procrastinate_retry_job_v1', '+1 (abort was pending)'),
    ('doing', 'todo', 'procrastinate_unregister_worker_v2', '+1'),
    ('doing', 'aborted', 'procrastinate_unregister_worker_v2', '+1 (abort was pending)'),
    ('doing', 'todo', 'procrastinate_release_jobs_v2', 'kept (event released)'),
    ('doing', 'aborted', 'procrastinate_release_jobs_v2', 'kept (abort was pending)'),
    -- for procrastinate_rescue_stalled_jobs_v2 and procrastinate_reconcile_held_jobs_v1
    ('doing', 'todo', '_procrastinate_take_back_jobs', '+1, rescue_count +1'),
    ('doing', 'failed', '_procrastinate_take_back_jobs', '+1 (rescue or attempt limit)'),
    ('doing', 'aborted', '_procrastinate_take_back_jobs', '+1 (abort was pending)'),
    ('failed', 'todo', 'procrastinate_retry_job_v1', 'kept'),
    ('failed', 'todo', 'procrastinate_retry_failed_jobs', 'kept'),
    ('succeeded', '(deleted)', 'procrastinate_remove_old_jobs_v1', '-'),
    ('failed', '(deleted)', 'procrastinate_remove_old_jobs_v1', '-'),
    ('cancelled', '(deleted)', 'procrastinate_remove_old_jobs_v1', '-'),
    ('aborted', '(deleted)', 'procrastinate_remove_old_jobs_v1', '-'),
    -- jobs deferred after others (57_dependencies.sql)
    ('todo', 'todo', '_procrastinate_parents_ended', 'kept (released: its parents ended)'),
    ('todo', 'cancelled', '_procrastinate_parents_ended', 'kept (a parent did not succeed)'),
    ('todo', 'todo', '_procrastinate_link_parents', 'kept (marked a parent; any status)'),
    ('doing', 'doing', '_procrastinate_link_parents', 'kept (marked a parent; any status)'),
    -- debounce (21_debounce_throttle.sql)
    ('todo', 'todo', '_procrastinate_defer_deduplicated', 'kept (debounce: new args, start)'),
    -- concurrency limits (59_limits.sql)
    ('doing', 'doing', '_procrastinate_set_limit', 'kept (marked limited: a limit was set)')
) as t (from_status, to_status, function_name, attempts);

comment on view procrastinate_job_transitions is
'Every status change a job can go through: from, to, the function that makes it, and what
happens to attempts. (new) is a job being inserted, (deleted) a job removed. A pending abort
(abort_requested) always ends aborted, except through procrastinate_retry_job (failed).';
