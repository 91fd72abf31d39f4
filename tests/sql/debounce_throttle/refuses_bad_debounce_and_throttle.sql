-- Bad debounce and throttle options are refused with PT001 naming the
-- problem, and nothing is written.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(11);

select procrastinate_defer_job('t', '{"n": 1}', queueing_lock => 'k', debounce => 5) as job_id \gset
select count(*) as jobs_before from procrastinate_jobs \gset
select count(*) as events_before from procrastinate_events \gset

select throws_ok(
    $$select procrastinate_defer_job('t', queueing_lock => 'k', debounce => -1)$$,
    'PT001',
    'job #1 of 1 is invalid: it has a debounce that is not a number of seconds from 0 to 1e9',
    'a negative debounce is refused'
);
select throws_ok(
    $$select procrastinate_defer_jobs(
        '[{"task_name": "t", "queueing_lock": "k", "throttle": "60"}]'
    )$$,
    'PT001',
    'job #1 of 1 is invalid: it has a throttle that is not a number of seconds from 0 to 1e9',
    'a throttle that is not a number is refused'
);
select throws_ok(
    $$select procrastinate_defer_job('t', queueing_lock => 'k', throttle => 1e10)$$,
    'PT001',
    'job #1 of 1 is invalid: it has a throttle that is not a number of seconds from 0 to 1e9',
    'a throttle over 1e9 seconds is refused'
);
select throws_ok(
    $$select procrastinate_defer_job('t', queueing_lock => 'k', debounce => 1, throttle => 1)$$,
    'PT001', 'job #1 of 1 is invalid: it has both debounce and throttle',
    'debounce and throttle together are refused'
);
select throws_ok(
    $$select procrastinate_defer_job('t', '{"n": 2}', debounce => 1)$$,
    'PT001',
    'job #1 of 1 is invalid: it has a debounce or throttle without a queueing_lock '
    || '(the key they apply to)',
    'a debounce without a queueing lock is refused'
);
select throws_ok(
    $$select procrastinate_defer_job('t', queueing_lock => 'k', debounce => 1,
        scheduled_at => now() + interval '1 hour')$$,
    'PT001',
    'job #1 of 1 is invalid: it has both debounce and a schedule: debounce sets the start',
    'a debounce with a schedule is refused'
);
select throws_ok(
    format(
        $$select procrastinate_defer_job(
            't', queueing_lock => 'k', throttle => 1, after => array[%s]::bigint[]
        )$$,
        :job_id
    ),
    'PT001',
    'job #1 of 1 is invalid: it has a debounce or throttle and an after: a job deferred after '
    || 'others cannot be replaced or dropped',
    'a throttle with an after is refused'
);
select throws_ok(
    $$select procrastinate_defer_jobs(
        '[{"task_name": "t", "args": {"n": 3}, "queueing_lock": "k", "debounce": 1},
          {"task_name": "t", "queueing_lock": "k", "debounce": -1}]'
    )$$,
    'PT001',
    'job #2 of 2 is invalid: it has a debounce that is not a number of seconds from 0 to 1e9',
    'one bad job refuses the whole batch'
);

select is(
    (select count(*) from procrastinate_jobs), :jobs_before::bigint, 'no job was written'
);
select is(
    (select count(*) from procrastinate_events), :events_before::bigint, 'no event was written'
);
select is(
    (select args from procrastinate_jobs where id = :job_id), '{"n": 1}'::jsonb,
    'the waiting job kept its args'
);

select * from finish();
rollback;
