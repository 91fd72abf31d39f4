-- The status and event type enums hold procrastinate 3.x's labels, in order.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

select has_enum('procrastinate_job_status', 'the job status enum exists');
select enum_has_labels(
    'procrastinate_job_status',
    array['todo', 'doing', 'succeeded', 'failed', 'cancelled', 'aborted'],
    'a job is todo, doing, succeeded, failed, cancelled or aborted (no aborting: post 0021)'
);
select has_enum('procrastinate_job_event_type', 'the event type enum exists');
select enum_has_labels(
    'procrastinate_job_event_type',
    array[
        'deferred', 'started', 'deferred_for_retry', 'failed', 'succeeded', 'cancelled',
        'abort_requested', 'aborted', 'scheduled', 'retried', 'released'
    ],
    'events are the transitions of a job, released (given back unstarted) appended last'
);

select * from finish();
rollback;
