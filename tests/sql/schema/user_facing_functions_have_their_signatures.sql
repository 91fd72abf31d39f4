-- The user-facing functions (a public contract: named parameters, no
-- overloads) exist with their documented signatures and return types, and
-- each is documented with comment on function.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(21);

select function_returns(
    'procrastinate_defer_job',
    array[
        'text', 'jsonb', 'text', 'integer', 'text', 'text', 'timestamp with time zone',
        'integer', 'double precision', 'double precision', 'double precision', 'text[]',
        'integer', 'boolean', 'bigint[]', 'text', 'text', 'double precision',
        'double precision', 'double precision'
    ],
    'bigint',
    'procrastinate_defer_job(task_name, args, ...) returns the new id'
);
select function_returns(
    'procrastinate_defer_jobs', array['jsonb'], 'setof bigint',
    'procrastinate_defer_jobs(jobs) returns the new ids'
);
select function_returns(
    'procrastinate_fetch_jobs', array['text[]', 'integer', 'bigint'], 'setof record',
    'procrastinate_fetch_jobs(queues, max_jobs, worker_id) returns the claimed jobs'
);
select function_returns(
    'procrastinate_finish_job',
    array['bigint', 'text', 'text', 'text[]', 'bigint', 'integer', 'jsonb'],
    'procrastinate_job_status',
    'procrastinate_finish_job(job_id, status, ...) returns the new status'
);
select function_returns(
    'procrastinate_job_result', array['bigint'], 'setof record',
    'procrastinate_job_result(job_id) returns how the job ended'
);
select function_returns(
    'procrastinate_cancel_job', array['bigint', 'boolean', 'boolean'], 'boolean',
    'procrastinate_cancel_job(job_id, abort, delete_job) returns whether it acted'
);
select function_returns(
    'procrastinate_retry_job',
    array['bigint', 'timestamp with time zone', 'integer', 'text', 'text'],
    'procrastinate_job_status',
    'procrastinate_retry_job(job_id, retry_at, priority, queue_name, lock) returns the new status'
);
select function_returns(
    'procrastinate_get_job_status', array['bigint'], 'procrastinate_job_status',
    'procrastinate_get_job_status(job_id) returns a status'
);
select function_returns(
    'procrastinate_retry_failed_jobs', array['text', 'text'], 'integer',
    'procrastinate_retry_failed_jobs(queue_name, task_name) returns a count'
);
select function_returns(
    'procrastinate_cancel_jobs', array['text', 'text', 'timestamp with time zone'], 'integer',
    'procrastinate_cancel_jobs(queue_name, task_name, p_now) returns a count'
);
select function_returns(
    'procrastinate_rescue_stalled_jobs', array[]::text[], 'setof record',
    'procrastinate_rescue_stalled_jobs() returns the rescued jobs'
);
select function_returns(
    'procrastinate_why_waiting', array['text'], 'setof record',
    'procrastinate_why_waiting(queue_name) returns one row per reason'
);
select function_returns(
    'procrastinate_set_limit',
    array['text', 'text', 'text', 'integer', 'integer', 'interval'], 'void',
    'procrastinate_set_limit(queue_name, task_name, limit_key, concurrency, rate, per)'
);
select function_returns(
    'procrastinate_remove_limit', array['text', 'text', 'text'], 'void',
    'procrastinate_remove_limit(queue_name, task_name, limit_key)'
);
select function_returns(
    'procrastinate_pause_queue', array['text'], 'boolean',
    'procrastinate_pause_queue(queue_name) returns whether it paused'
);
select function_returns(
    'procrastinate_resume_queue', array['text'], 'boolean',
    'procrastinate_resume_queue(queue_name) returns whether it resumed'
);
select function_returns(
    'procrastinate_remove_old_jobs',
    array['double precision', 'text', 'text[]', 'integer'], 'integer',
    'procrastinate_remove_old_jobs(max_hours, queue_name, statuses, max_jobs) returns a count'
);

select is(
    (
        select array_agg(p.proname::text order by p.proname)
        from pg_proc as p
        where
            p.proname like 'procrastinate\_%'
            and p.proname !~ '_v[0-9]+$'
            and p.pronamespace = 'public'::regnamespace
    ),
    array[
        'procrastinate_cancel_job', 'procrastinate_cancel_jobs', 'procrastinate_defer_job',
        'procrastinate_defer_jobs', 'procrastinate_fetch_jobs', 'procrastinate_finish_job',
        'procrastinate_get_job_status', 'procrastinate_job_result', 'procrastinate_pause_queue',
        'procrastinate_remove_limit',
        'procrastinate_remove_old_jobs', 'procrastinate_rescue_stalled_jobs',
        'procrastinate_resume_queue', 'procrastinate_retry_failed_jobs',
        'procrastinate_retry_job', 'procrastinate_set_limit', 'procrastinate_why_waiting'
    ],
    'the user-facing functions are these, one per verb, without overloads'
);
select is_empty(
    $$select p.oid::regprocedure::text
      from pg_proc as p
      where
          p.proname like 'procrastinate\_%'
          and p.proname !~ '_v[0-9]+$'
          and p.pronamespace = 'public'::regnamespace
          and obj_description(p.oid, 'pg_proc') is null$$,
    'every user-facing function is documented with comment on function'
);
select is_empty(
    $$select p.proname::text, a.name
      from pg_proc as p
      cross join lateral unnest(p.proargnames) as a (name)
      where
          p.proname like 'procrastinate\_%'
          and p.proname !~ '_v[0-9]+$'
          and p.pronamespace = 'public'::regnamespace
          and a.name like 'p\_%'
          and a.name <> 'p_now'$$,
    'user-facing parameters are named without the p_ prefix (but the pinned clock p_now)'
);

select is_empty(
    $$select p.proname::text
      from pg_proc as p
      inner join pg_language as l on p.prolang = l.oid
      where
          p.proname in (
              'procrastinate_cancel_job', 'procrastinate_retry_job',
              'procrastinate_get_job_status', 'procrastinate_remove_old_jobs',
              'procrastinate_pause_queue', 'procrastinate_resume_queue'
          )
          and p.pronamespace = 'public'::regnamespace
          and (l.lanname <> 'sql' or p.prosecdef or p.prosrc !~ 'procrastinate_[a-z_]+_v1\(')$$,
    'the verbs the driver also calls are SQL wrappers over their _v1, running as the caller'
);

select * from finish();
rollback;
