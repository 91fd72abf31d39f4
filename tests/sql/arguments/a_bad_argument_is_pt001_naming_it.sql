-- A bad argument to a function of the queue is SQLSTATE PT001, with a
-- message that names the argument, and changes nothing.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(11);

select procrastinate_defer_job('x') as job \gset

select throws_like(
    'select * from procrastinate_fetch_jobs_v2(null, null, 0)', '%p_limit%',
    'fetch: p_limit'
);
select throws_like(
    $$select * from procrastinate_finish_jobs_v1(null, '[]', 'sometimes')$$, '%p_delete_jobs%',
    'finish: p_delete_jobs'
);
select throws_like(
    'select procrastinate_cancel_job_v1(null, false, false, null)', '%job_id%',
    'cancel: job_id'
);
select throws_like(
    'select procrastinate_retry_job_v1(null, null, null, null, null, null)', '%job_id%',
    'retry: job_id'
);
select throws_like(
    'select procrastinate_get_job_status_v1(null)', '%job_id%', 'status: job_id'
);
select throws_like(
    format('select procrastinate_retry_job(%s, queue_name => %L)', :job, ''), '%queue_name%',
    'retry: queue_name'
);
select throws_like(
    'select procrastinate_remove_old_jobs(1, max_jobs => -1)', '%max_jobs%',
    'remove_old_jobs: max_jobs'
);
select throws_like(
    $$select procrastinate_register_worker_v2('w', null, 0, 'h', 1)$$, '%p_concurrency%',
    'register: p_concurrency'
);
select throws_like(
    $$select procrastinate_pause_queue('')$$, '%queue_name%', 'pause: queue_name'
);
select throws_like(
    $$select * from procrastinate_job_counts_v1('colour')$$, '%p_by%', 'counts: p_by'
);
select throws_ok(
    'select * from procrastinate_fetch_jobs_v2(null, null, 0)', 'PT001', null,
    'and the SQLSTATE is PT001'
);

select * from finish();
rollback;
