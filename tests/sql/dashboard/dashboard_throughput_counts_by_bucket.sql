-- procrastinate_dashboard_throughput_v1 counts jobs succeeded and failed per
-- queue and bucket (aligned on the bucket width, the last bucket holding
-- p_now), jobs outside the window or not finished not at all; bad bounds
-- are refused (PT001).
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

insert into procrastinate_jobs (queue_name, task_name, status, finished_at)
values
('tq_a', 't', 'succeeded', '2026-03-01 11:59:30+00'),
('tq_a', 't', 'succeeded', '2026-03-01 11:59:10+00'),
('tq_a', 't', 'failed', '2026-03-01 11:58:59+00'),
('tq_b', 't', 'succeeded', '2026-03-01 11:30:00+00'),
-- before the window, cancelled, still waiting: not counted
('tq_a', 't', 'succeeded', '2026-03-01 10:59:00+00'),
('tq_a', 't', 'cancelled', '2026-03-01 11:59:00+00'),
('tq_a', 't', 'todo', null);

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
    ('tq_b', '2026-03-01 11:30:00+00'::timestamptz, 1::bigint, 0::bigint)
    $$,
    'one row per queue and minute that has jobs; buckets aligned on the minute'
);
select is(
    (
        select sum(succeeded)::integer
        from procrastinate_dashboard_throughput_v1(
            p_since => interval '1 day', p_buckets => 96, p_now => '2026-03-01 12:00:00+00'
        )
    ),
    4, 'the day window holds the job of 10:59 too'
);
select is(
    (
        select min(bucket_start)
        from procrastinate_dashboard_throughput_v1(
            p_since => interval '1 day', p_buckets => 96, p_now => '2026-03-01 12:00:00+00'
        )
    ),
    '2026-03-01 10:45:00+00'::timestamptz, 'a day in buckets of 15 minutes'
);
select is_empty(
    $$select * from procrastinate_dashboard_throughput_v1(p_now => '2020-01-01 00:00:00+00')$$,
    'nothing finished in the window: no row'
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
