-- A queueing lock admits one waiting job: a second defer raises PT002
-- naming the lock, never the job holding it (it may be another producer's),
-- and writes nothing. Once that job has started, the lock is free again.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

select procrastinate_defer_job('refresh', queueing_lock => 'refresh:user:1') as first_id \gset

select throws_ok(
    $$select procrastinate_defer_job('refresh', queueing_lock => 'refresh:user:1')$$,
    'PT002',
    'queueing lock "refresh:user:1" is already taken by a waiting job',
    'a second waiting job with the same queueing lock is refused, naming the lock only'
);
select is(
    (select count(*)::integer from procrastinate_jobs where task_name = 'refresh'), 1,
    'the refused job was not written'
);
select lives_ok(
    $$select procrastinate_defer_job('refresh', queueing_lock => 'refresh:user:2')$$,
    'another queueing lock is free'
);

select is(
    (
        select array_agg(f.queueing_lock order by f.id)
        from procrastinate_fetch_jobs_v2(1, null, 10) as f
    ),
    array['refresh:user:1', 'refresh:user:2'],
    'both waiting jobs start'
);
select lives_ok(
    $$select procrastinate_defer_job('refresh', queueing_lock => 'refresh:user:1')$$,
    'the queueing lock of a running job is free for a new waiting job'
);
select is(
    (
        select count(*)::integer from procrastinate_jobs
        where queueing_lock = 'refresh:user:1' and status = 'todo'
    ),
    1,
    'one job waits with that queueing lock'
);

select * from finish();
rollback;
