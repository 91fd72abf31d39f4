-- procrastinate_dashboard_throughput_v1 counts the ends of jobs (their
-- 'succeeded' and 'failed' events) per queue and bucket (aligned on the
-- bucket width, the last bucket holding p_now), ends outside the window, a
-- failure the retry policy retried, cancellations and deleted jobs not at
-- all; a job that failed for good, was retried by hand and then succeeded
-- counts both ends. The history is written as workers write it: jobs end in
-- time order, each end an event at its finished_at, among thousands of
-- earlier events the search for the window's ids must walk past. Bad bounds
-- are refused (PT001).
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(10);

-- earlier that day: 2,000 jobs ended between 00:00 and 09:30, then 1,000
-- deferred at 10:30 still waiting (a run of events without an end)
insert into procrastinate_jobs (queue_name, task_name, status, created_at)
select
    'tq_old' as queue_name,
    'old' as task_name,
    'doing' as status,
    '2026-03-01 00:00:00+00' as created_at
from generate_series(1, 2000);
do $$
begin
    for i in 0..19 loop
        update procrastinate_jobs
        set
            status = 'succeeded',
            finished_at = '2026-03-01 00:00:00+00'::timestamptz + i * interval '30 minutes'
        where id in (
            select id from procrastinate_jobs
            where task_name = 'old' and status = 'doing'
            order by id limit 100
        );
    end loop;
end;
$$;
insert into procrastinate_jobs (queue_name, task_name, created_at)
select
    'tq_old' as queue_name,
    'waiting' as task_name,
    '2026-03-01 10:30:00+00' as created_at
from generate_series(1, 1000);

-- the jobs of the last hour, each ended (or not) in time order below
insert into procrastinate_jobs (queue_name, task_name, status, created_at)
values
('tq_a', 'early', 'doing', '2026-03-01 10:50:00+00'),
('tq_b', 'b', 'doing', '2026-03-01 10:50:00+00'),
('tq_c', 'failed_then_retried', 'doing', '2026-03-01 10:50:00+00'),
('tq_c', 'retried_by_policy', 'doing', '2026-03-01 10:50:00+00'),
('tq_a', 'fails', 'doing', '2026-03-01 10:50:00+00'),
('tq_a', 'cancelled', 'doing', '2026-03-01 10:50:00+00'),
('tq_a', 'first', 'doing', '2026-03-01 10:50:00+00'),
('tq_d', 'deleted', 'doing', '2026-03-01 10:50:00+00'),
('tq_a', 'second', 'doing', '2026-03-01 10:50:00+00'),
('tq_a', 'waiting', 'todo', '2026-03-01 10:50:00+00');

update procrastinate_jobs set status = 'succeeded', finished_at = '2026-03-01 10:59:00+00'
where task_name = 'early';
update procrastinate_jobs set status = 'succeeded', finished_at = '2026-03-01 11:30:00+00'
where task_name = 'b';
update procrastinate_jobs set status = 'failed', finished_at = '2026-03-01 11:40:00+00'
where task_name = 'failed_then_retried';
-- the retry policy: back to todo with one more attempt (deferred_for_retry)
update procrastinate_jobs set status = 'todo', attempts = attempts + 1
where task_name = 'retried_by_policy';
update procrastinate_jobs set status = 'doing', started_at = '2026-03-01 11:44:00+00'
where task_name = 'retried_by_policy';
update procrastinate_jobs set status = 'succeeded', finished_at = '2026-03-01 11:45:00+00'
where task_name = 'retried_by_policy';
-- retried by hand after failing for good (retried), then run and succeeded
update procrastinate_jobs set status = 'todo', finished_at = null
where task_name = 'failed_then_retried';
update procrastinate_jobs set status = 'doing', started_at = '2026-03-01 11:49:00+00'
where task_name = 'failed_then_retried';
update procrastinate_jobs set status = 'succeeded', finished_at = '2026-03-01 11:50:00+00'
where task_name = 'failed_then_retried';
update procrastinate_jobs set status = 'failed', finished_at = '2026-03-01 11:58:59+00'
where task_name = 'fails';
update procrastinate_jobs set status = 'cancelled', finished_at = '2026-03-01 11:59:00+00'
where task_name = 'cancelled';
update procrastinate_jobs set status = 'succeeded', finished_at = '2026-03-01 11:59:10+00'
where task_name = 'first';
update procrastinate_jobs set status = 'succeeded', finished_at = '2026-03-01 11:59:20+00'
where task_name = 'deleted';
update procrastinate_jobs set status = 'succeeded', finished_at = '2026-03-01 11:59:30+00'
where task_name = 'second';
delete from procrastinate_jobs where task_name = 'deleted';

select results_eq(
    $$
    select queue_name, bucket_start, succeeded, failed
    from procrastinate_dashboard_throughput_v1(
        p_since => interval '1 hour', p_buckets => 60, p_now => '2026-03-01 11:59:45+00'
    )
    $$,
    $$
    values
    ('tq_a', '2026-03-01 11:58:00+00'::timestamptz, 0::bigint, 1::bigint),
    ('tq_a', '2026-03-01 11:59:00+00'::timestamptz, 2::bigint, 0::bigint),
    ('tq_b', '2026-03-01 11:30:00+00'::timestamptz, 1::bigint, 0::bigint),
    ('tq_c', '2026-03-01 11:40:00+00'::timestamptz, 0::bigint, 1::bigint),
    ('tq_c', '2026-03-01 11:45:00+00'::timestamptz, 1::bigint, 0::bigint),
    ('tq_c', '2026-03-01 11:50:00+00'::timestamptz, 1::bigint, 0::bigint)
    $$,
    'one row per queue and minute that has ends; buckets aligned on the minute'
);
select results_eq(
    $$
    select queue_name, bucket_start, succeeded, failed
    from procrastinate_dashboard_throughput_v1(
        p_since => interval '5 minutes', p_buckets => 5, p_now => '2026-03-01 11:59:45+00'
    )
    $$,
    $$
    values
    ('tq_a', '2026-03-01 11:58:00+00'::timestamptz, 0::bigint, 1::bigint),
    ('tq_a', '2026-03-01 11:59:00+00'::timestamptz, 2::bigint, 0::bigint)
    $$,
    'a short window right after a retried failure: the same counts in its buckets'
);
select results_eq(
    $$
    select sum(succeeded)::integer, sum(failed)::integer
    from procrastinate_dashboard_throughput_v1(
        p_since => interval '1 day', p_buckets => 96, p_now => '2026-03-01 12:00:00+00'
    )
    $$,
    $$values (2006, 2)$$,
    'the day window holds the 2,000 earlier ends and the one of 10:59 too'
);
select is(
    (
        select min(bucket_start)
        from
            procrastinate_dashboard_throughput_v1(
                p_since => interval '1 day', p_buckets => 96, p_now => '2026-03-01 12:00:00+00'
            )
        where queue_name = 'tq_a'
    ),
    '2026-03-01 10:45:00+00'::timestamptz, 'a day in buckets of 15 minutes'
);
select results_eq(
    $$
    select bucket_start, succeeded
    from procrastinate_dashboard_throughput_v1(
        p_since => interval '1 hour', p_buckets => 2, p_now => '2026-03-01 09:40:00+00'
    )
    $$,
    $$
    values
    ('2026-03-01 09:00:00+00'::timestamptz, 100::bigint),
    ('2026-03-01 09:30:00+00'::timestamptz, 100::bigint)
    $$,
    'a window in the middle of the history: its ends, none before or after'
);
select is_empty(
    $$select * from procrastinate_dashboard_throughput_v1(p_now => '2020-01-01 00:00:00+00')$$,
    'nothing ended in the window: no row'
);
select is_empty(
    $$select * from procrastinate_dashboard_throughput_v1(p_now => '2026-03-01 10:40:00+00')$$,
    'only defers in the window: no row'
);
select throws_ok(
    $$select * from procrastinate_dashboard_throughput_v1(p_buckets => 0)$$, 'PT001', null,
    'at least one bucket'
);
select throws_ok(
    $$select * from procrastinate_dashboard_throughput_v1(p_since => interval '40 days')$$,
    'PT001', null, 'at most 31 days'
);
select throws_ok(
    $$select * from procrastinate_dashboard_throughput_v1(p_since => interval '10 seconds')$$,
    'PT001', null, 'buckets of at least a second'
);

select * from finish();
rollback;
