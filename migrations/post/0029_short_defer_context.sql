-- An error of procrastinate_defer_job in psql carried some 20 lines of
-- CONTEXT: the whole statement that built the job object and called
-- procrastinate_defer_jobs_v2 (issue 20). The object is now built in a
-- variable and the call is one line: five lines of CONTEXT, the message and
-- the hint first. Same signature, same behaviour.
-- A post migration: the code does not need it, and a pre after the post
-- migrations 0020-0028 would block the procrastinate 3.x conversion.
-- Replacing a function takes no lock on the queue's tables; the timeouts
-- bound the wait on the catalog should anything hold it.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

-- User-facing single defer, for psql, triggers and other languages.
create or replace function procrastinate_defer_job(
    task_name text,
    args jsonb default '{}',
    queue_name text default 'default',
    priority integer default 0,
    lock text default null,
    queueing_lock text default null,
    scheduled_at timestamptz default null,
    max_attempts integer default null,
    retry_wait double precision default 0,
    retry_linear_wait double precision default 0,
    retry_exponential_wait double precision default 0,
    retry_exceptions text[] default null
)
returns bigint
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
declare
    -- built apart from the call: an error's CONTEXT quotes the statement
    -- that called procrastinate_defer_jobs_v2, and this keeps it one line
    v_jobs jsonb := jsonb_build_array(jsonb_build_object(
        'task_name', task_name,
        'args', coalesce(args, '{}'::jsonb),
        'queue_name', queue_name,
        'priority', priority,
        'lock', lock,
        'queueing_lock', queueing_lock,
        'scheduled_at', scheduled_at,
        'max_attempts', max_attempts,
        'retry_wait', retry_wait,
        'retry_linear_wait', retry_linear_wait,
        'retry_exponential_wait', retry_exponential_wait,
        'retry_exceptions', to_jsonb(retry_exceptions)
    ));
begin
    return (select d.id from procrastinate_defer_jobs_v2(v_jobs) as d);
end;
$$;
