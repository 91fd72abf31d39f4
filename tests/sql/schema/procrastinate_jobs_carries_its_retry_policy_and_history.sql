-- Beyond the procrastinate 3.x columns, a job carries its retry policy (so
-- that SQL decides retries), the bookkeeping of its runs, who deferred it and
-- the claim that took it.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(15);

select col_type_is(
    'procrastinate_jobs', 'max_attempts', 'integer', 'max_attempts is a nullable integer'
);
select col_is_null('procrastinate_jobs', 'max_attempts', 'max_attempts may be null');
select col_type_is(
    'procrastinate_jobs', 'retry_wait', 'double precision', 'retry_wait is in seconds'
);
select col_type_is(
    'procrastinate_jobs', 'retry_linear_wait', 'double precision',
    'retry_linear_wait is in seconds'
);
select col_type_is(
    'procrastinate_jobs', 'retry_exponential_wait', 'double precision',
    'retry_exponential_wait is in seconds'
);
select col_type_is(
    'procrastinate_jobs', 'retry_exceptions', 'text[]',
    'retry_exceptions is a list of class names'
);
select col_type_is(
    'procrastinate_jobs', 'created_at', 'timestamp with time zone', 'jobs have a created_at'
);
select col_type_is(
    'procrastinate_jobs', 'started_at', 'timestamp with time zone', 'jobs have a started_at'
);
select col_type_is(
    'procrastinate_jobs', 'finished_at', 'timestamp with time zone', 'jobs have a finished_at'
);
select col_type_is('procrastinate_jobs', 'last_error', 'text', 'jobs keep their last error');
select col_type_is(
    'procrastinate_jobs', 'last_error_types', 'text[]',
    'jobs keep the class names of their last error'
);
select col_type_is(
    'procrastinate_jobs', 'rescue_count', 'integer', 'jobs count their rescues'
);
select col_type_is(
    'procrastinate_jobs', 'deferred_by', 'text',
    'jobs record the login role that deferred them'
);
select col_type_is(
    'procrastinate_jobs', 'claim_token', 'uuid',
    'jobs record the claim token of the fetch that took them'
);
select col_default_is(
    'procrastinate_jobs', 'status', 'todo'::procrastinate_job_status,
    'a job starts in todo'
);

select * from finish();
rollback;
