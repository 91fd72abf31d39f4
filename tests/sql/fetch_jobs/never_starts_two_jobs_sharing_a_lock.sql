-- Jobs sharing a lock run one at a time: a fetch never claims two of them,
-- and a running job blocks its lock until it ends.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

select procrastinate_defer_job('a', lock => 'user:1') as a \gset
select procrastinate_defer_job('b', lock => 'user:1') as b \gset
select procrastinate_defer_job('free') as free \gset
select procrastinate_defer_job('other_lock', lock => 'user:2') as other_lock \gset

select results_eq(
    'select id from procrastinate_fetch_jobs_v2(1, null, 10)',
    format('values (%s::bigint), (%s::bigint), (%s::bigint)', :a, :free, :other_lock),
    'one call claims the first job of each lock and the jobs without lock'
);
select is_empty(
    'select id from procrastinate_fetch_jobs_v2(2, null, 10)',
    'the second job of the lock is blocked while the first runs'
);

select procrastinate_defer_job('c', lock => 'user:1', priority => 100) as c \gset

select is_empty(
    'select id from procrastinate_fetch_jobs_v2(2, null, 10)',
    'a running job blocks its lock even for a job of higher priority'
);

select is(
    (
        select f.status from procrastinate_finish_jobs_v1(
            1, format('[{"id": %s, "status": "succeeded"}]', :a)::jsonb
        ) as f
    ),
    'succeeded'::procrastinate_job_status,
    'the running job ends'
);
select results_eq(
    'select id from procrastinate_fetch_jobs_v2(2, null, 10)',
    format('values (%s::bigint)', :c),
    'the lock is free: the next job (highest priority) starts, only it'
);
select is(
    (select count(*)::integer from procrastinate_jobs where lock = 'user:1' and status = 'doing'),
    1,
    'never two running jobs with the same lock'
);

select * from finish();
rollback;
