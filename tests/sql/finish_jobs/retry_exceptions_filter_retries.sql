-- A job whose retry_exceptions is set is retried only when one of the
-- failure's class names (its own or a base class) is in that list; null
-- retries any failure.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

-- Worker 7 claims the due job of p_queue and reports it failed with p_types
-- (null: no error object); returns the new status.
create function pg_temp.run_and_fail(p_queue text, p_types text[])
returns procrastinate_job_status
language plpgsql
as $$
declare
    v_job record;
    v_status procrastinate_job_status;
begin
    select f.id, f.attempts into strict v_job
    from procrastinate_fetch_jobs_v2(7, array[p_queue], 1, p_now => '2030-01-01 00:00:00+00') as f;
    select r.status into v_status
    from procrastinate_finish_jobs_v1(
        7,
        jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
            'id', v_job.id, 'attempt', v_job.attempts, 'status', 'failed',
            'error', case when p_types is not null then jsonb_build_object('types', p_types) end
        ))),
        'never', '2030-01-01 00:00:00+00'
    ) as r;
    return v_status;
end;
$$;

select count(*) as deferred from procrastinate_defer_jobs($$[
    {"task_name": "t", "queue_name": "other", "max_attempts": 0,
     "retry_exceptions": ["ConnectionError"]},
    {"task_name": "t", "queue_name": "own", "max_attempts": 0,
     "retry_exceptions": ["ConnectionError"]},
    {"task_name": "t", "queue_name": "base", "max_attempts": 0,
     "retry_exceptions": ["KeyError", "OSError"]},
    {"task_name": "t", "queue_name": "untyped", "max_attempts": 0,
     "retry_exceptions": ["ConnectionError"]},
    {"task_name": "t", "queue_name": "any", "max_attempts": 0},
    {"task_name": "t", "queue_name": "exhausted", "max_attempts": 1,
     "retry_exceptions": ["ValueError"]}
]$$) \gset

select is(
    pg_temp.run_and_fail('other', array['ValueError', 'Exception']),
    'failed'::procrastinate_job_status,
    'a failure whose classes are not listed is final'
);
select is(
    pg_temp.run_and_fail('own', array['ConnectionError', 'OSError', 'Exception']),
    'todo'::procrastinate_job_status,
    'a failure of a listed class is retried'
);
select is(
    pg_temp.run_and_fail('base', array['TimeoutError', 'OSError', 'Exception']),
    'todo'::procrastinate_job_status,
    'a failure whose base class is listed is retried'
);
select is(
    pg_temp.run_and_fail('untyped', null),
    'failed'::procrastinate_job_status,
    'a failure without class names cannot match the list: final'
);
select is(
    pg_temp.run_and_fail('any', array['KeyError']),
    'todo'::procrastinate_job_status,
    'without retry_exceptions any failure is retried'
);
update procrastinate_jobs set attempts = 1 where queue_name = 'exhausted';
select is(
    pg_temp.run_and_fail('exhausted', array['ValueError']),
    'failed'::procrastinate_job_status,
    'a listed class does not extend max_attempts'
);

select * from finish();
rollback;
