-- Every table of the queue exists, with its primary key.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(20);

select has_table('procrastinate_jobs', 'jobs live in procrastinate_jobs');
select has_table('procrastinate_workers', 'workers register in procrastinate_workers');
select has_table('procrastinate_events', 'transitions are recorded in procrastinate_events');
select has_table(
    'procrastinate_periodic_defers', 'periodic ticks are recorded in procrastinate_periodic_defers'
);
select has_table('procrastinate_paused_queues', 'paused queues are listed in a table');
select has_table('procrastinate_migrations', 'applied migrations are recorded in a table');
select has_table('procrastinate_settings', 'limits and defaults of the queue are a table');
select has_table('procrastinate_limits', 'concurrency limits are a table');
select has_table('procrastinate_throttles', 'throttle periods are a table');

select col_is_pk('procrastinate_jobs', 'id', 'jobs are keyed by id');
select col_is_pk('procrastinate_workers', 'id', 'workers are keyed by id');
select col_is_pk('procrastinate_events', 'id', 'events are keyed by id');
select col_is_pk('procrastinate_periodic_defers', 'id', 'periodic defers are keyed by id');
select col_is_pk('procrastinate_paused_queues', 'queue_name', 'a queue is paused at most once');
select col_is_pk('procrastinate_migrations', 'number', 'a migration is recorded once');
select col_is_pk('procrastinate_settings', 'singleton', 'the settings are keyed by a singleton');
select col_is_pk('procrastinate_limits', 'id', 'limits are keyed by id');
select col_is_pk('procrastinate_throttles', 'id', 'throttle periods are keyed by id');
select columns_are(
    'procrastinate_settings',
    array[
        'singleton', 'max_args_bytes', 'max_args_depth', 'stalled_worker_timeout', 'max_rescues',
        'max_result_bytes', 'worker_synchronous_commit', 'history'
    ],
    'the settings are the args limits, the default lease, the rescue limit, the result limit, '
    || 'whether workers commit synchronously and the history level'
);
select columns_are(
    'procrastinate_workers',
    array[
        'id', 'name', 'host', 'pid', 'queues', 'concurrency', 'started_at', 'last_heartbeat',
        'registered_by', 'stalled_after', 'alive_since'
    ],
    'a worker records who registered it, its lease and since when it is alive'
);

select * from finish();
rollback;
