-- procrastinate_retry_delay_v1(attempts, wait, linear_wait, exponential_wait)
-- = wait + linear_wait * attempts + exponential_wait ^ (attempts + 1)
-- seconds (no exponential term when it is 0), capped so that it never
-- overflows.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(14);

select is(procrastinate_retry_delay_v1(0, 0, 0, 0), interval '0', 'no waits: no delay');
select is(procrastinate_retry_delay_v1(5, 0, 0, 0), interval '0', 'no waits at any attempt');
select is(procrastinate_retry_delay_v1(0, 10, 0, 0), interval '10 seconds', 'a fixed wait');
select is(
    procrastinate_retry_delay_v1(7, 10, 0, 0), interval '10 seconds', 'a fixed wait stays fixed'
);
select is(procrastinate_retry_delay_v1(3, 0, 5, 0), interval '15 seconds', 'linear: 5 * 3');
select is(procrastinate_retry_delay_v1(0, 0, 0, 2), interval '2 seconds', 'exponential: 2 ^ 1');
select is(procrastinate_retry_delay_v1(1, 0, 0, 2), interval '4 seconds', 'exponential: 2 ^ 2');
select is(procrastinate_retry_delay_v1(2, 0, 0, 3), interval '27 seconds', 'exponential: 3 ^ 3');
select is(
    procrastinate_retry_delay_v1(2, 1, 2, 3), interval '32 seconds',
    'all three terms add up: 1 + 2 * 2 + 3 ^ 3'
);
select is(
    procrastinate_retry_delay_v1(3, 0, 0, 0.5), interval '0.0625 seconds',
    'an exponential wait under one second shrinks: 0.5 ^ 4'
);
select cmp_ok(
    procrastinate_retry_delay_v1(100000, 0, 0, 2), '<=', interval '10000000000 seconds',
    'a huge number of attempts gives a capped delay, not an overflow'
);
select cmp_ok(
    procrastinate_retry_delay_v1(100000, 0, 0, 2), '>=', procrastinate_retry_delay_v1(30, 0, 0, 2),
    'the capped delay is not shorter than earlier delays'
);
select is(
    procrastinate_retry_delay_v1(1000000000, 0, 1e10, 0), interval '10000000000 seconds',
    'a huge linear delay is capped at 1e10 seconds'
);
select lives_ok(
    $$select '2030-01-01 00:00:00+00'::timestamptz
             + procrastinate_retry_delay_v1(2000000000, 1e10, 1e10, 1e10)$$,
    'the capped delay can be added to a time'
);

select * from finish();
rollback;
