-- Every way out of doing frees a slot of the job's limit: success, a failure
-- retried, an operator's retry, an abort, a release of a prefetched job, a
-- rescue from a dead worker.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

select procrastinate_register_worker_v2(
    'w', null, 10, 'h', 1, p_stalled_after => 60, p_now => '2030-01-01 00:00:00+00'
) as w \gset
select procrastinate_set_limit(queue_name => 'q', concurrency => 1);
select procrastinate_defer_job('t', queue_name => 'q', max_attempts => 5) as a \gset
select procrastinate_defer_job('t', queue_name => 'q', max_attempts => 5) as b \gset

-- the next claim takes one of a and b: whichever waits
create temporary table claims (step text, n integer);
create function pg_temp.claim(p_step text, p_now timestamptz default null) returns void
language sql as $$
    insert into claims
    select p_step, count(*)::integer
    from procrastinate_fetch_jobs_v4(
        (select max(id) from procrastinate_workers), array['q'], 10, p_now => p_now
    );
$$;

select pg_temp.claim('first');
select pg_temp.claim('full');
select is(
    (select array_agg(n order by step) from claims), array[1, 0],
    'one job starts; the queue is then full'
);

-- a failure retried by its policy
select procrastinate_finish_job(
    (select id from procrastinate_jobs where status = 'doing'), 'failed', 'boom',
    worker_id => :w, attempt => 0
) as failed \gset
select pg_temp.claim('after a failure retried');
select is(
    (select n from claims where step = 'after a failure retried'), 1,
    'a failure retried frees the slot'
);

-- an operator's retry of a running job
select procrastinate_retry_job(
    (select id from procrastinate_jobs where status = 'doing')
) as retried \gset
select pg_temp.claim('after an operator retry');
select is(
    (select n from claims where step = 'after an operator retry'), 1,
    'an operator''s retry frees the slot'
);

-- an abort
select procrastinate_cancel_job(
    (select id from procrastinate_jobs where status = 'doing'), abort => true
) as abort_requested \gset
select procrastinate_finish_job(
    (select id from procrastinate_jobs where status = 'doing'), 'aborted',
    worker_id => :w,
    attempt => (select attempts from procrastinate_jobs where status = 'doing')
) as aborted \gset
select pg_temp.claim('after an abort');
select is(
    (select n from claims where step = 'after an abort'), 1,
    'an aborted job frees the slot'
);

-- a release of a job claimed ahead
select count(*) as released from procrastinate_release_jobs_v2(
    :w, array(select id from procrastinate_jobs where status = 'doing')
) \gset
select pg_temp.claim('after a release');
select is(
    (select n from claims where step = 'after a release'), 1,
    'a released job frees the slot'
);

-- a rescue: the worker went silent past its lease
select procrastinate_register_worker_v2(
    'rescuer', null, 1, 'h', 2, p_now => '2030-01-01 00:10:00+00'
) as rescuer \gset
select count(*) as rescued
from procrastinate_rescue_stalled_jobs_v2(:rescuer, '2030-01-01 00:10:00+00') \gset
select is(:rescued, 1, 'the dead worker''s job is rescued');
select pg_temp.claim('after a rescue', '2030-01-01 00:10:00+00');
select is(
    (select n from claims where step = 'after a rescue'), 1,
    'a rescued job frees the slot'
);

select * from finish();
rollback;
