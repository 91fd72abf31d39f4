-- procrastinate_set_limit and procrastinate_remove_limit refuse bad input
-- (concurrency and rate) with an SQLSTATE and a message, and leave the
-- limits as they were.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(17);

select procrastinate_set_limit(queue_name => 'emails', concurrency => 5);

select throws_ok(
    $$select procrastinate_set_limit(queue_name => 'emails', concurrency => -1)$$,
    'PT001', 'concurrency must be zero or more jobs, got -1',
    'a negative limit is refused'
);
select throws_ok(
    $$select procrastinate_set_limit(queue_name => 'emails')$$,
    'PT001', 'a limit needs a concurrency, a rate (with its period per) or both',
    'a missing limit is refused'
);
select throws_ok(
    $$select procrastinate_set_limit(concurrency => 3)$$,
    'PT001', 'name exactly one of queue_name, task_name and limit_key, got 0',
    'a limit on nothing is refused'
);
select throws_ok(
    $$select procrastinate_set_limit(
        queue_name => 'emails', task_name => 'send', concurrency => 3
    )$$,
    'PT001', 'name exactly one of queue_name, task_name and limit_key, got 2',
    'a limit on two things at once is refused'
);
select throws_ok(
    $$select procrastinate_set_limit(limit_key => '', concurrency => 3)$$,
    'PT001', 'a limit needs a non-empty key name',
    'an empty name is refused'
);
select throws_ok(
    $$select procrastinate_remove_limit(queue_name => 'sms')$$,
    'PT006', 'there is no limit on queue "sms"',
    'removing a limit that does not exist is refused'
);
select throws_ok(
    $$select procrastinate_remove_limit()$$,
    'PT001', 'name exactly one of queue_name, task_name and limit_key, got 0',
    'removing a limit on nothing is refused'
);
select throws_ok(
    $$select procrastinate_register_limits_v1('{"task": {"send": -2}}')$$,
    'PT001', 'concurrency must be zero or more jobs, got -2',
    'a worker''s negative task limit is refused'
);
select throws_ok(
    $$select procrastinate_register_limits_v1('{"queue": {"emails": "many"}}')$$,
    'PT001', 'queue emails has a concurrency limit that is not an integer: "many"',
    'a worker''s queue limit that is not an integer is refused'
);
select throws_ok(
    $$select procrastinate_register_limits_v1('{"tasks": {"send": 1}}')$$,
    'PT001',
    'limits must be a JSON object {"task": {name: limit}, "queue": {name: limit}}, got '
    || '{"tasks": {"send": 1}}',
    'a worker''s limits of an unknown kind are refused'
);
select throws_ok(
    $$select procrastinate_set_limit(queue_name => 'emails', rate => 10)$$,
    'PT001', 'a rate limit needs both rate and per (at most rate starts per period per), '
    || 'got rate 10, per null',
    'a rate without its period is refused'
);
select throws_ok(
    $$select procrastinate_set_limit(queue_name => 'emails', per => '1 minute')$$,
    'PT001', 'a rate limit needs both rate and per (at most rate starts per period per), '
    || 'got rate null, per 00:01:00',
    'a period without its rate is refused'
);
select throws_ok(
    $$select procrastinate_set_limit(queue_name => 'emails', rate => -5, per => '1 s')$$,
    'PT001', 'rate must be zero or more job starts, got -5',
    'a negative rate is refused'
);
select throws_ok(
    $$select procrastinate_set_limit(queue_name => 'emails', rate => 5, per => '0 s')$$,
    'PT001', 'per must be a period of at least a millisecond, got 00:00:00',
    'a period of nothing is refused'
);
select throws_ok(
    $$select procrastinate_register_limits_v2('{"task": {"send": {"rate": 10}}}')$$,
    'PT001', 'a rate limit needs both rate and per (at most rate starts per period per), '
    || 'got rate 10, per null',
    'a worker''s rate without its period is refused'
);
select throws_ok(
    $$select procrastinate_register_limits_v2('{"queue": {"emails": {"rate": 2.5, "per": 1}}}')$$,
    'PT001', 'queue emails has a limit that is not {"concurrency": integer, "rate": integer, '
    || '"per": seconds}: {"per": 1, "rate": 2.5}',
    'a worker''s rate that is not an integer is refused'
);
select results_eq(
    'select scope, name, concurrency, rate from procrastinate_limits',
    $$values ('queue', 'emails', 5, null::integer)$$,
    'the limits are as they were'
);

select * from finish();
rollback;
