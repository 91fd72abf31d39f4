-- One fresh job (attempts 0) per queueing lock may wait. Releasing claimed
-- jobs never breaks that: of two claimed jobs sharing a lock, the oldest goes
-- back; a claimed job whose lock a waiting job took stays with the worker
-- (unregistering gives it back as a retry). The others are released all
-- the same, and nothing fails.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

select procrastinate_register_worker_v2('ahead', null, 1, 'h', 1) as ahead \gset

select procrastinate_defer_job('q1', queue_name => 'a', queueing_lock => 'Q') as q1 \gset
select count(*) as claimed from procrastinate_fetch_jobs_v2(:ahead, array['a'], 10) \gset
-- q1 is not waiting any more: a second job with lock Q may be deferred.
select procrastinate_defer_job('q2', queue_name => 'a', queueing_lock => 'Q') as q2 \gset
select procrastinate_defer_job('r1', queue_name => 'a', queueing_lock => 'R') as r1 \gset
select procrastinate_defer_job('plain', queue_name => 'a') as plain \gset
select count(*) as claimed from procrastinate_fetch_jobs_v2(:ahead, array['a'], 10) \gset
-- r1 is claimed: a job deferred now takes lock R and waits.
select procrastinate_defer_job('r2', queue_name => 'b', queueing_lock => 'R') as r2 \gset

select results_eq(
    format(
        'select * from procrastinate_release_jobs_v2(%s, array[%s, %s, %s, %s]) order by 1',
        :ahead, :q1, :q2, :r1, :plain
    ),
    format('values (%s::bigint), (%s::bigint)', :q1, :plain),
    'the oldest of two claimed jobs sharing a lock is released, with the jobs without lock'
);
select results_eq(
    format(
        'select id, status, worker_id from procrastinate_jobs where id in (%s, %s) order by id',
        :q2, :r1
    ),
    format(
        $$values (%s::bigint, 'doing'::procrastinate_job_status, %s::bigint),
                 (%s::bigint, 'doing'::procrastinate_job_status, %s::bigint)$$,
        :q2, :ahead, :r1, :ahead
    ),
    'jobs whose lock is taken by a waiting fresh job stay with the worker'
);
select results_eq(
    format('select status, attempts from procrastinate_jobs where id = %s', :q1),
    $$values ('todo'::procrastinate_job_status, 0)$$,
    'the released one waits again, no attempt counted'
);
select is(
    procrastinate_unregister_worker_v2(:ahead), 2,
    'unregistering gives the kept jobs back'
);
select results_eq(
    format(
        'select id, status, attempts from procrastinate_jobs where id in (%s, %s) order by id',
        :q2, :r1
    ),
    format(
        $$values (%s::bigint, 'todo'::procrastinate_job_status, 1),
                 (%s::bigint, 'todo'::procrastinate_job_status, 1)$$,
        :q2, :r1
    ),
    'as retries, which may wait beside a fresh job with the same lock'
);
select is(
    (
        select count(*)::integer from procrastinate_jobs
        where queueing_lock = 'Q' and status = 'todo' and attempts = 0
    ),
    1,
    'still one fresh waiting job per queueing lock'
);

select * from finish();
rollback;
