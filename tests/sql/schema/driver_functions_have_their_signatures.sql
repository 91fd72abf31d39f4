-- The versioned functions the Python driver calls exist with the signatures
-- and return types it was written against.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(34);

select function_returns(
    'procrastinate_defer_jobs_v2', array['jsonb', 'timestamp with time zone'], 'setof bigint',
    'procrastinate_defer_jobs_v2(p_jobs, p_now) returns table(id)'
);
select function_returns(
    'procrastinate_fetch_jobs_v3',
    array['bigint', 'text[]', 'integer', 'uuid', 'boolean', 'timestamp with time zone'],
    'setof record',
    'procrastinate_fetch_jobs_v3 stays, for the workers of the previous release'
);
select function_returns(
    'procrastinate_fetch_jobs_v4',
    array[
        'bigint', 'text[]', 'integer', 'uuid', 'boolean', 'timestamp with time zone', 'integer'
    ],
    'setof record',
    'procrastinate_fetch_jobs_v4 stays, for the workers of the previous release'
);
select function_returns(
    'procrastinate_fetch_jobs_v5',
    array[
        'bigint', 'text[]', 'integer', 'uuid', 'boolean', 'timestamp with time zone', 'integer'
    ],
    'setof record',
    'procrastinate_fetch_jobs_v5(p_worker_id, p_queues, p_limit, p_claim_token, p_resume, '
    || 'p_now, p_slots)'
);
select function_returns(
    'procrastinate_register_limits_v1', array['jsonb'], 'void',
    'procrastinate_register_limits_v1(p_limits): the limits of a worker''s code'
);
select function_returns(
    'procrastinate_register_limits_v2', array['jsonb'], 'void',
    'procrastinate_register_limits_v2(p_limits): the limits of a worker''s code, with rates'
);
select function_returns(
    'procrastinate_limit_wait_v1', array['text[]'], 'setof record',
    'procrastinate_limit_wait_v1(p_queues): how long a rate limit keeps a worker waiting'
);
select function_returns(
    'procrastinate_fetch_jobs_v2',
    array['bigint', 'text[]', 'integer', 'uuid', 'boolean', 'timestamp with time zone'],
    'setof record',
    'procrastinate_fetch_jobs_v2 stays, for the workers of the previous release'
);
select function_returns(
    'procrastinate_job_results_v1', array['bigint[]'], 'setof record',
    'procrastinate_job_results_v1(p_job_ids) returns how each job stands'
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
    'procrastinate_register_worker_v2',
    array[
        'text', 'text[]', 'integer', 'text', 'integer', 'double precision',
        'timestamp with time zone'
    ],
    'bigint',
    'procrastinate_register_worker_v2(..., p_stalled_after, p_now) returns the worker id'
);
select function_returns(
    'procrastinate_heartbeat_v2', array['bigint', 'timestamp with time zone'], 'double precision',
    'procrastinate_heartbeat_v2 returns the lease in seconds (null: the worker row is gone)'
);
select function_returns(
    'procrastinate_unregister_worker_v2', array['bigint', 'timestamp with time zone'], 'integer',
    'procrastinate_unregister_worker_v2 returns how many jobs it released'
);
select function_returns(
    'procrastinate_release_jobs_v2',
    array['bigint', 'bigint[]', 'timestamp with time zone'],
    'setof bigint',
    'procrastinate_release_jobs_v2 returns the released ids'
);
select function_returns(
    'procrastinate_jobs_to_abort_v1', array['bigint'], 'setof bigint',
    'procrastinate_jobs_to_abort_v1 returns job ids'
);
select function_returns(
    'procrastinate_rescue_stalled_jobs_v2', array['bigint', 'timestamp with time zone'],
    'setof record',
    'procrastinate_rescue_stalled_jobs_v2(p_worker_id, p_now) returns the rescued jobs'
);
select function_returns(
    'procrastinate_reconcile_held_jobs_v1',
    array['bigint', 'bigint[]', 'timestamp with time zone'], 'setof record',
    'procrastinate_reconcile_held_jobs_v1(p_worker_id, p_held, p_now) returns the differences'
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
    'procrastinate_cancel_job_v1',
    array['bigint', 'boolean', 'boolean', 'timestamp with time zone'], 'boolean',
    'procrastinate_cancel_job_v1(job_id, abort, delete_job, p_now) returns whether it acted'
);
select function_returns(
    'procrastinate_retry_job_v1',
    array[
        'bigint', 'timestamp with time zone', 'integer', 'text', 'text',
        'timestamp with time zone'
    ],
    'procrastinate_job_status',
    'procrastinate_retry_job_v1(job_id, retry_at, priority, queue_name, lock, p_now)'
);
select function_returns(
    'procrastinate_get_job_status_v1', array['bigint'], 'procrastinate_job_status',
    'procrastinate_get_job_status_v1(job_id) returns a status'
);
select function_returns(
    'procrastinate_remove_old_jobs_v1',
    array['double precision', 'text', 'text[]', 'integer', 'timestamp with time zone'],
    'integer',
    'procrastinate_remove_old_jobs_v1(max_hours, queue_name, statuses, max_jobs, p_now)'
);
select function_returns(
    'procrastinate_pause_queue_v1', array['text', 'timestamp with time zone'], 'boolean',
    'procrastinate_pause_queue_v1(p_queue_name, p_now) returns whether it paused'
);
select function_returns(
    'procrastinate_resume_queue_v1', array['text'], 'boolean',
    'procrastinate_resume_queue_v1(p_queue_name) returns whether it resumed'
);
select function_returns(
    'procrastinate_list_jobs_v1',
    array[
        'bigint', 'text', 'text', 'text', 'text', 'text', 'bigint', 'boolean',
        'double precision', 'double precision', 'timestamp with time zone'
    ],
    'setof record',
    'procrastinate_list_jobs_v1 returns the jobs matching its filters'
);
select function_returns(
    'procrastinate_job_counts_v1', array['text', 'text', 'text', 'text', 'text'],
    'setof record',
    'procrastinate_job_counts_v1 returns job counts per queue, task or lock'
);
select function_returns(
    'procrastinate_applied_migrations_v1', array[]::text[], 'setof integer',
    'procrastinate_applied_migrations_v1 returns the applied migration numbers'
);
select hasnt_function(
    'procrastinate_stalled_worker_timeout_v1',
    'the stall threshold is no longer a function of settings a caller may SET'
);
select is(
    (
        select array_agg(p.proname::text order by p.proname)
        from pg_proc as p
        where
            p.proname ~ '^procrastinate_.*_v[0-9]+$'
            and p.pronamespace = 'public'::regnamespace
    ),
    array[
        'procrastinate_applied_migrations_v1', 'procrastinate_cancel_job_v1',
        'procrastinate_dashboard_id_bounds_v1', 'procrastinate_dashboard_job_v1',
        'procrastinate_dashboard_jobs_v1', 'procrastinate_dashboard_jobs_v2',
        'procrastinate_dashboard_throughput_v1',
        'procrastinate_dashboard_workers_v1',
        'procrastinate_defer_jobs_v2', 'procrastinate_defer_periodic_job_v1',
        'procrastinate_failure_groups_v1',
        'procrastinate_fetch_jobs_v2', 'procrastinate_fetch_jobs_v3',
        'procrastinate_fetch_jobs_v4', 'procrastinate_fetch_jobs_v5',
        'procrastinate_finish_jobs_v1',
        'procrastinate_get_job_status_v1', 'procrastinate_heartbeat_v2',
        'procrastinate_job_counts_v1', 'procrastinate_job_results_v1',
        'procrastinate_jobs_to_abort_v1',
        'procrastinate_last_periodic_ticks_v1', 'procrastinate_limit_wait_v1',
        'procrastinate_list_jobs_v1',
        'procrastinate_pause_queue_v1', 'procrastinate_reconcile_held_jobs_v1',
        'procrastinate_register_limits_v1', 'procrastinate_register_limits_v2',
        'procrastinate_register_worker_v2', 'procrastinate_release_jobs_v2',
        'procrastinate_remove_old_jobs_v1', 'procrastinate_rescue_stalled_jobs_v2',
        'procrastinate_resume_queue_v1', 'procrastinate_retry_delay_v1',
        'procrastinate_retry_failure_group_v1',
        'procrastinate_retry_job_v1', 'procrastinate_unregister_worker_v2'
    ],
    'the versioned functions are exactly those the driver calls'
);
select is(
    (
        select array_agg(p.proname::text order by p.proname)
        from pg_proc as p
        where
            p.proname like '\_procrastinate\_%'
            and p.pronamespace = 'public'::regnamespace
    ),
    array[
        '_procrastinate_apply_outcomes', '_procrastinate_candidates_past_full_limits',
        '_procrastinate_check_clock', '_procrastinate_check_worker',
        '_procrastinate_dedup_problem', '_procrastinate_defer_deduplicated',
        '_procrastinate_delete_events',
        '_procrastinate_full_queues', '_procrastinate_held_until',
        '_procrastinate_insert_jobs', '_procrastinate_job_problem',
        '_procrastinate_keep_settings', '_procrastinate_lease', '_procrastinate_lease_expired',
        '_procrastinate_limit_applies', '_procrastinate_limit_candidates',
        '_procrastinate_limit_scope', '_procrastinate_limit_tokens',
        '_procrastinate_link_parents', '_procrastinate_notify',
        '_procrastinate_notify_inserted_jobs', '_procrastinate_notify_updated_jobs',
        '_procrastinate_outcome_problem', '_procrastinate_parents_ended',
        '_procrastinate_policy_problem',
        '_procrastinate_queueing_lock_problem', '_procrastinate_record_insert_events',
        '_procrastinate_record_update_events', '_procrastinate_release_dependents_of_deleted_job',
        '_procrastinate_renew_lease',
        '_procrastinate_sees_all_jobs', '_procrastinate_set_limit',
        '_procrastinate_take_back_jobs', '_procrastinate_timeout_grace',
        '_procrastinate_trusted', '_procrastinate_validate_jobs'
    ],
    'the internal helpers are these, unversioned, with a leading underscore'
);
select function_returns(
    '_procrastinate_notify', array['text', 'text', 'jsonb'], 'void',
    '_procrastinate_notify sends and returns nothing'
);

select * from finish();
rollback;
