-- Rate limits: the bucket arithmetic (_procrastinate_limit_tokens), and the
-- claim, which starts at most as many jobs of a rate-limited queue, task or
-- key as its bucket holds tokens, spends one per job started (not for the
-- prefetch buffer), applies a rate and a concurrency of the same row
-- together, and lists the bucket in procrastinate_limit_stats;
-- procrastinate_limit_wait_v1 tells a worker when a token comes back.
-- Periods are of an hour so that the time the test takes adds no token.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(22);

-- the arithmetic
select is(
    _procrastinate_limit_tokens(
        10, '1 second', 0, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00.35+00'
    ),
    3.5::double precision,
    'a bucket of 10 per second, empty 0.35 s ago, holds 3.5 tokens'
);
select is(
    _procrastinate_limit_tokens(
        100, '1 minute', 20, '2026-01-01 00:00:00+00', '2026-01-01 00:00:30+00'
    ),
    70::double precision,
    'a bucket of 100 per minute gains 50 tokens in 30 s'
);
select is(
    _procrastinate_limit_tokens(
        100, '1 minute', 20, '2026-01-01 00:00:00+00', '2026-01-01 01:00:00+00'
    ),
    100::double precision,
    'a bucket holds at most its rate'
);
select is(
    _procrastinate_limit_tokens(
        100, '1 minute', 20, '2026-01-01 00:00:00+00', '2025-12-31 23:59:00+00'
    ),
    20::double precision,
    'a clock read before the last refill adds nothing'
);
select is(
    _procrastinate_limit_tokens(null, null, null, null, now()),
    null,
    'no rate, no tokens'
);

select procrastinate_register_worker_v2('w', null, 50, 'h', 1) as w \gset

-- a queue of 3 starts per hour
select procrastinate_set_limit(queue_name => 'r', rate => 3, per => '1 hour');
select results_eq(
    $$select rate, per, tokens from procrastinate_limits where name = 'r'$$,
    $$values (3, '1 hour'::interval, 3::double precision)$$,
    'a new rate starts with a full bucket'
);
select procrastinate_defer_jobs(
    (
        select jsonb_agg(jsonb_build_object('task_name', 't', 'queue_name', 'r'))
        from generate_series(1, 5)
    )
);
select procrastinate_defer_job('free', queue_name => 'other') as free1 \gset
select is(
    (select count(*)::integer from procrastinate_fetch_jobs_v4(:w, array['r', 'other'], 10)),
    4,
    'a claim of 10 starts 3 jobs of the rate-limited queue and the job of the other queue'
);
select ok(
    (select tokens < 0.01 from procrastinate_limits where name = 'r'),
    'the bucket is empty: each start took a token'
);
select is_empty(
    format('select * from procrastinate_fetch_jobs_v4(%s, array[%L], 10)', :w, 'r'),
    'an empty bucket starts nothing, whatever runs or not'
);
select results_eq(
    $$select waiting, held_back, rate, tokens < 0.01 from procrastinate_limit_stats
      where name = 'r'$$,
    $$values (2::bigint, 2::bigint, 3, true)$$,
    'the view shows the rate, the tokens left and the 2 jobs it holds back'
);
select ok(
    (
        select has_rate_limits and seconds between 1190 and 1201
        from procrastinate_limit_wait_v1(array['r'])
    ),
    'a worker of the queue is told to wait 20 minutes for the next token (one per 1200 s)'
);
select ok(
    (
        select has_rate_limits and seconds is null
        from procrastinate_limit_wait_v1(array['other'])
    ),
    'a worker of other queues is not told to wait for it'
);

-- time passes: 1.5 tokens
update procrastinate_limits set tokens = 1.5 where name = 'r';
select is(
    (select count(*)::integer from procrastinate_fetch_jobs_v4(:w, array['r'], 10)),
    1,
    '1.5 tokens start 1 job'
);
select ok(
    (select tokens between 0.49 and 0.51 from procrastinate_limits where name = 'r'),
    'and half a token is left'
);

-- the prefetch buffer spends no token: only the jobs started at once do
select procrastinate_set_limit(task_name => 'p', rate => 10, per => '1 hour');
select procrastinate_defer_jobs(
    (
        select jsonb_agg(jsonb_build_object('task_name', 'p', 'queue_name', 'pq'))
        from generate_series(1, 5)
    )
);
select is(
    (
        select count(*)::integer
        from procrastinate_fetch_jobs_v4(:w, array['pq'], 5, p_slots => 2)
    ),
    2,
    'a claim of 5 jobs of which 2 start at once takes 2 rate-limited jobs'
);
select ok(
    (select tokens between 7.99 and 8.01 from procrastinate_limits where name = 'p'),
    'and spends 2 tokens'
);

-- a concurrency and a rate on one row: both apply
select procrastinate_set_limit(limit_key => 'tenant:1', concurrency => 1);
select procrastinate_set_limit(limit_key => 'tenant:1', rate => 5, per => '1 hour');
select results_eq(
    $$select concurrency, rate from procrastinate_limits where name = 'tenant:1'$$,
    $$values (1, 5)$$,
    'setting a rate keeps the concurrency'
);
select procrastinate_defer_job('k', queue_name => 'kq', limit_key => 'tenant:1') as k1 \gset
select procrastinate_defer_job('k', queue_name => 'kq', limit_key => 'tenant:1') as k2 \gset
select results_eq(
    format('select id from procrastinate_fetch_jobs_v4(%s, array[%L], 10)', :w, 'kq'),
    format('values (%s::bigint)', :k1),
    'the concurrency of 1 holds the second job back though the rate has tokens'
);
select ok(
    (select tokens between 3.99 and 4.01 from procrastinate_limits where name = 'tenant:1'),
    'the job started took one token'
);

-- changing a rate keeps the tokens, at most the new rate; 0 holds all back
select procrastinate_set_limit(task_name => 'p', rate => 2, per => '1 hour');
select ok(
    (select tokens = 2 from procrastinate_limits where name = 'p'),
    'a lower rate caps the tokens left'
);
select procrastinate_set_limit(task_name => 'p', rate => 0, per => '1 hour');
select is_empty(
    format('select * from procrastinate_fetch_jobs_v4(%s, array[%L], 10)', :w, 'pq'),
    'a rate of 0 starts nothing'
);
select procrastinate_remove_limit(task_name => 'p');
select is(
    (select count(*)::integer from procrastinate_fetch_jobs_v4(:w, array['pq'], 10)),
    3,
    'removed, its jobs start'
);

select * from finish();
rollback;
