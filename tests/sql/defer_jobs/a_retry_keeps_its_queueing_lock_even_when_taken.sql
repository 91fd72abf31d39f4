-- Queueing locks: at most one waiting job per value at defer time, retries
-- included; but a job going back to the queue (retry, manual retry, rescue)
-- never fails because a job deferred while it ran took its queueing lock.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

select procrastinate_register_worker_v2(
    'w', null, 1, 'h', 1, p_stalled_after => 1, p_now => now() - interval '1 hour'
) as w \gset
select procrastinate_defer_job('a', queueing_lock => 'Q', max_attempts => 0) as a \gset
select procrastinate_defer_job('other', max_attempts => 0) as other \gset
select count(*) as claimed from procrastinate_fetch_jobs_v2(:w, null, 10) \gset
select procrastinate_defer_job('a', queueing_lock => 'Q') as b \gset

select results_eq(
    format(
        $$select job_id, accepted, status from procrastinate_finish_jobs_v1(%s,
            '[{"id": %s, "status": "failed"}, {"id": %s, "status": "failed"}]')$$,
        :w, :a, :other
    ),
    format(
        $$values (%s::bigint, true, 'todo'::procrastinate_job_status),
        (%s::bigint, true, 'todo'::procrastinate_job_status)$$,
        :a, :other
    ),
    'a batch where one failure retries into a taken queueing lock is applied whole'
);
select is(
    (
        select count(*)::integer from procrastinate_jobs
        where queueing_lock = 'Q' and status = 'todo'
    ),
    2,
    'the retried job and the job deferred meanwhile both wait'
);
select throws_ok(
    $$select procrastinate_defer_job('a', queueing_lock => 'Q')$$,
    'PT002', null,
    'a new defer is still refused while jobs with the lock wait'
);

-- Again through rescue: the retried job runs, its worker dies.
select count(*) as claimed2 from procrastinate_fetch_jobs_v2(:w, null, 10) \gset
select procrastinate_defer_job('a', queueing_lock => 'R') as c \gset
update procrastinate_jobs set queueing_lock = 'R' where id = :a;
-- its last sign of life (the fetch) an hour ago
update procrastinate_workers set last_heartbeat = now() - interval '1 hour' where id = :w;
select lives_ok(
    'select * from procrastinate_rescue_stalled_jobs_v2(null)',
    'rescuing a job whose queueing lock was taken meanwhile works'
);
select is(
    (select status from procrastinate_jobs where id = :a), 'todo'::procrastinate_job_status,
    'the rescued job waits again'
);

-- And through a manual retry of a failed job.
update procrastinate_jobs set status = 'failed' where id = :a;
select is(
    procrastinate_retry_job(:a), 'todo'::procrastinate_job_status,
    'a manual retry into a taken queueing lock works'
);
select is(
    (
        select count(*)::integer from procrastinate_jobs
        where queueing_lock = 'R' and status = 'todo'
    ),
    2,
    'both jobs with lock R wait'
);

select * from finish();
rollback;
