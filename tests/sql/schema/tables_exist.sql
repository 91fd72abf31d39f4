-- Every table of the queue exists, with its primary key.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(12);

select has_table('procrastinate_jobs', 'jobs live in procrastinate_jobs');
select has_table('procrastinate_workers', 'workers register in procrastinate_workers');
select has_table('procrastinate_events', 'transitions are recorded in procrastinate_events');
select has_table(
    'procrastinate_periodic_defers', 'periodic ticks are recorded in procrastinate_periodic_defers'
);
select has_table('procrastinate_paused_queues', 'paused queues are listed in a table');
select has_table('procrastinate_migrations', 'applied migrations are recorded in a table');

select col_is_pk('procrastinate_jobs', 'id', 'jobs are keyed by id');
select col_is_pk('procrastinate_workers', 'id', 'workers are keyed by id');
select col_is_pk('procrastinate_events', 'id', 'events are keyed by id');
select col_is_pk('procrastinate_periodic_defers', 'id', 'periodic defers are keyed by id');
select col_is_pk('procrastinate_paused_queues', 'queue_name', 'a queue is paused at most once');
select col_is_pk('procrastinate_migrations', 'number', 'a migration is recorded once');

select * from finish();
rollback;
