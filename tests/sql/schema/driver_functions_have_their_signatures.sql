-- The versioned functions the Python driver calls exist with the signatures
-- and return types it was written against.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(15);

select function_returns(
    'procrastinate_defer_jobs_v1', array['jsonb'], 'setof bigint',
    'procrastinate_defer_jobs_v1(p_jobs) returns table(id)'
);
select function_returns(
    'procrastinate_validate_jobs_v1', array['jsonb'], 'void',
    'procrastinate_validate_jobs_v1(p_jobs) raises or returns nothing'
);
select function_returns(
    'procrastinate_fetch_jobs_v1',
    array['bigint', 'text[]', 'integer', 'timestamp with time zone'],
    'setof record',
    'procrastinate_fetch_jobs_v1(p_worker_id, p_queues, p_limit, p_now) returns jobs'
);
select function_returns(
    'procrastinate_finish_jobs_v1',
    array['bigint', 'jsonb', 'text', 'timestamp with time zone'],
    'setof record',
    'procrastinate_finish_jobs_v1(p_worker_id, p_outcomes, p_delete_jobs, p_now) returns rows'
);
select function_returns(
    'procrastinate_retry_delay_v1',
    array['integer', 'double precision', 'double precision', 'double precision'],
    'interval',
    'procrastinate_retry_delay_v1 returns an interval'
);
select volatility_is(
    'procrastinate_retry_delay_v1',
    array['integer', 'double precision', 'double precision', 'double precision'],
    'immutable',
    'the retry delay depends on its arguments only'
);
select function_returns(
    'procrastinate_register_worker_v1',
    array['text', 'text[]', 'integer', 'text', 'integer', 'timestamp with time zone'],
    'bigint',
    'procrastinate_register_worker_v1 returns the worker id'
);
select function_returns(
    'procrastinate_heartbeat_v1', array['bigint', 'timestamp with time zone'], 'boolean',
    'procrastinate_heartbeat_v1 returns whether the worker row exists'
);
select function_returns(
    'procrastinate_unregister_worker_v1', array['bigint'], 'integer',
    'procrastinate_unregister_worker_v1 returns how many jobs it released'
);
select function_returns(
    'procrastinate_jobs_to_abort_v1', array['bigint'], 'setof bigint',
    'procrastinate_jobs_to_abort_v1 returns job ids'
);
select function_returns(
    'procrastinate_rescue_stalled_jobs_v1',
    array['double precision', 'integer', 'timestamp with time zone'],
    'setof record',
    'procrastinate_rescue_stalled_jobs_v1 returns the rescued jobs'
);
select function_returns(
    'procrastinate_defer_periodic_job_v1', array['text', 'text', 'bigint', 'jsonb'], 'bigint',
    'procrastinate_defer_periodic_job_v1 returns a job id'
);
select function_returns(
    'procrastinate_last_periodic_ticks_v1', array[]::text[], 'setof record',
    'procrastinate_last_periodic_ticks_v1 returns one row per periodic task'
);
select function_returns(
    'procrastinate_stalled_worker_timeout_v1', array[]::text[], 'interval',
    'procrastinate_stalled_worker_timeout_v1 returns an interval'
);
select function_returns(
    'procrastinate_notify_v1', array['text', 'text', 'jsonb'], 'void',
    'procrastinate_notify_v1 sends and returns nothing'
);

select * from finish();
rollback;
