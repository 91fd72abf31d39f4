-- Invalid job definitions are refused with SQLSTATE PT001 and a message
-- naming the problem; nothing is written.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(12);

select count(*) as jobs_before from procrastinate_jobs \gset
select count(*) as events_before from procrastinate_events \gset

select throws_ok(
    $$select procrastinate_defer_job('')$$,
    'PT001', 'job #1 of 1 is invalid: it needs a task_name, a non-empty string',
    'an empty task name is refused'
);
select throws_ok(
    $$select procrastinate_defer_job(null)$$,
    'PT001', 'job #1 of 1 is invalid: it needs a task_name, a non-empty string',
    'a null task name is refused'
);
select throws_ok(
    $$select procrastinate_defer_job('t', '[1, 2]')$$,
    'PT001', 'job #1 of 1 is invalid: it has args that are not a JSON object (got array)',
    'args that are an array are refused'
);
select throws_ok(
    $$select procrastinate_defer_job('t', '"text"')$$,
    'PT001', null,
    'args that are a string are refused'
);
select throws_ok(
    $$select procrastinate_defer_job('t', max_attempts => -1)$$,
    'PT001', 'job #1 of 1 is invalid: it has a negative max_attempts (-1); use 0 for no limit',
    'a negative max_attempts is refused'
);
select throws_ok(
    $$select procrastinate_defer_job('t', retry_wait => -1)$$,
    'PT001', null,
    'a negative retry_wait is refused'
);
select throws_ok(
    $$select procrastinate_defer_job('t', retry_exponential_wait => 'infinity')$$,
    'PT001', null,
    'an infinite retry wait is refused'
);
select throws_ok(
    $$select procrastinate_defer_job('t', queue_name => '')$$,
    'PT001', 'job #1 of 1 is invalid: it has a queue_name that is not a non-empty string',
    'an empty queue name is refused'
);
select throws_ok(
    $$select procrastinate_defer_job('t', retry_exceptions => array['ValueError', null])$$,
    'PT001', null,
    'a null class name in retry_exceptions is refused'
);
select throws_ok(
    $$select procrastinate_defer_job('t', scheduled_at => 'tomorrow at noon')$$,
    '22007', null,
    'a scheduled_at that is not a timestamp is refused by the parameter type'
);

select is(
    (select count(*) from procrastinate_jobs), :jobs_before::bigint,
    'nothing was written'
);
select is(
    (select count(*) from procrastinate_events), :events_before::bigint,
    'no event was written'
);

select * from finish();
rollback;
