-- Types shared by the whole queue.
-- A job's life: todo -> doing -> succeeded | failed | aborted, or todo -> cancelled;
-- a failed run may go back to todo (retry). 'aborting' is kept for procrastinate
-- 3.x compatibility and is never set by this edition.

create type procrastinate_job_status as enum (
    'todo',
    'doing',
    'succeeded',
    'failed',
    'cancelled',
    'aborting',
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
    'retried'
);
