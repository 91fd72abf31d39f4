-- The statement triggers recording events and sending notifications are in
-- place, each calling its function. (NOTIFY delivery needs two sessions and
-- is tested in tests/py/sql/test_notifications.py.)
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(17);

select has_function(
    '_procrastinate_record_insert_events', array[]::text[],
    'the insert events function exists'
);
select has_function(
    '_procrastinate_record_update_events', array[]::text[],
    'the update events function exists'
);
select has_function(
    '_procrastinate_delete_events', array[]::text[],
    'the delete events function exists'
);
select has_function(
    '_procrastinate_notify_inserted_jobs', array[]::text[],
    'the insert notify function exists'
);
select has_function(
    '_procrastinate_notify_updated_jobs', array[]::text[],
    'the update notify function exists'
);

select trigger_is(
    'procrastinate_jobs', 'procrastinate_jobs_insert_events_v1',
    '_procrastinate_record_insert_events',
    'inserts record their events'
);
select trigger_is(
    'procrastinate_jobs', 'procrastinate_jobs_update_events_v1',
    '_procrastinate_record_update_events',
    'updates record their events'
);
select trigger_is(
    'procrastinate_jobs', 'procrastinate_jobs_delete_events_v1',
    '_procrastinate_delete_events',
    'deletes remove the events of the deleted jobs'
);
select trigger_is(
    'procrastinate_jobs', 'procrastinate_jobs_notify_insert_v1',
    '_procrastinate_notify_inserted_jobs',
    'inserts notify listening workers'
);
select trigger_is(
    'procrastinate_jobs', 'procrastinate_jobs_notify_update_v1',
    '_procrastinate_notify_updated_jobs',
    'updates notify listening workers'
);
select trigger_is(
    'procrastinate_jobs', 'procrastinate_jobs_delete_dependents_v2',
    '_procrastinate_release_dependents_of_deleted_job',
    'deletes of parents release or cancel the jobs waiting for them'
);
select triggers_are(
    'procrastinate_jobs',
    array[
        'procrastinate_jobs_insert_events_v1', 'procrastinate_jobs_update_events_v1',
        'procrastinate_jobs_delete_events_v1', 'procrastinate_jobs_notify_insert_v1',
        'procrastinate_jobs_notify_update_v1', 'procrastinate_jobs_delete_dependents_v2'
    ],
    'procrastinate_jobs has these triggers and no other'
);
select is(
    (
        select array_agg(t.tgname::text order by t.tgname)
        from pg_trigger as t
        where
            t.tgrelid = 'procrastinate_jobs'::regclass
            and not t.tgisinternal
            and t.tgtype & 1 = 1
    ),
    array['procrastinate_jobs_delete_dependents_v2'],
    'one trigger of procrastinate_jobs runs per row, the others once per statement'
);
select is(
    (
        select pg_get_triggerdef(t.oid) ~ 'WHEN \(old\.has_dependents\)'
        from pg_trigger as t
        where t.tgname = 'procrastinate_jobs_delete_dependents_v2'
    ),
    true,
    'the row trigger runs only for jobs others were deferred after: other deletes pay nothing'
);
select is(
    (
        select array_agg(t.tgname::text order by t.tgname)
        from pg_trigger as t
        where
            t.tgrelid = 'procrastinate_jobs'::regclass
            and not t.tgisinternal
            and t.tgtype & 2 = 0
    ),
    array[
        'procrastinate_jobs_delete_dependents_v2',
        'procrastinate_jobs_delete_events_v1', 'procrastinate_jobs_insert_events_v1',
        'procrastinate_jobs_notify_insert_v1', 'procrastinate_jobs_notify_update_v1',
        'procrastinate_jobs_update_events_v1'
    ],
    'every trigger of procrastinate_jobs runs after the statement'
);
select function_returns(
    '_procrastinate_record_update_events', array[]::text[], 'trigger',
    'the events functions are trigger functions'
);
select function_returns(
    '_procrastinate_notify_updated_jobs', array[]::text[], 'trigger',
    'the notify functions are trigger functions'
);

select * from finish();
rollback;
