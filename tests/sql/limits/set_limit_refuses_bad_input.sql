-- procrastinate_set_limit and procrastinate_remove_limit refuse bad input
-- with an SQLSTATE and a message, and leave the limits as they were.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(11);

select procrastinate_set_limit(queue_name => 'emails', concurrency => 5);

select throws_ok(
    $$select procrastinate_set_limit(queue_name => 'emails', concurrency => -1)$$,
    'PT001', 'concurrency must be zero or more jobs, got -1',
    'a negative limit is refused'
);
select throws_ok(
    $$select procrastinate_set_limit(queue_name => 'emails')$$,
    'PT001', 'concurrency must be zero or more jobs, got null',
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
    'PT006', 'there is no concurrency limit on queue "sms"',
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
select results_eq(
    'select scope, name, concurrency from procrastinate_limits',
    $$values ('queue', 'emails', 5)$$,
    'the limits are as they were'
);

select * from finish();
rollback;
