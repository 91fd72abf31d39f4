-- A job object's headers (a JSON object of strings: the W3C trace context
-- of the defer, traceparent and tracestate) are stored with the job and
-- handed to the worker by the claim (procrastinate_fetch_jobs_v4), with the
-- seconds the job waited since its defer or scheduled time. No headers, or
-- an empty object, store nothing. Anything else is refused (PT001).
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(9);

select d.id as traced from procrastinate_defer_jobs(
    '[{"task_name": "traced", "headers": {"traceparent":
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "k=v"}}]'
) as d (id) \gset
select min(d.id) as plain from procrastinate_defer_jobs(
    '[{"task_name": "plain"}, {"task_name": "empty", "headers": {}}]'
) as d (id) \gset
-- deferred a minute ago on the database's clock
update procrastinate_jobs set created_at = now() - interval '60 seconds' where id = :traced;

select is(
    (select headers from procrastinate_jobs where id = :traced),
    '{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "tracestate": "k=v"}'::jsonb,
    'the headers are stored with the job'
);
select is(
    (select count(*)::integer from procrastinate_jobs where headers is null),
    2,
    'no headers, or an empty object, store nothing'
);

create temporary table claimed as
select
    f.id,
    f.headers,
    f.waited
from procrastinate_fetch_jobs_v4(7, null, 10) as f;

select is(
    (select headers ->> 'traceparent' from claimed where id = :traced),
    '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    'the claim hands the headers to the worker'
);
select ok(
    (select waited between 60 and 3600 from claimed where id = :traced),
    'and how long the job waited, since its defer'
);
select ok(
    (select waited >= 0 and headers is null from claimed where id = :plain),
    'a job without headers waited too'
);

select throws_ok(
    $$select procrastinate_defer_jobs('[{"task_name": "t", "headers": "00-abc"}]')$$,
    'PT001', 'job #1 of 1 is invalid: it has headers that are not a JSON object of strings',
    'headers must be an object'
);
select throws_ok(
    $$select procrastinate_defer_jobs('[{"task_name": "t", "headers": {"n": 1}}]')$$,
    'PT001', 'job #1 of 1 is invalid: it has headers that are not a JSON object of strings',
    'of strings'
);
select throws_ok(
    format(
        $$select procrastinate_defer_jobs('[{"task_name": "t", "headers": {"big": "%s"}}]')$$,
        repeat('x', 9000)
    ),
    'PT001', 'job #1 of 1 is invalid: it has headers over 8192 bytes',
    'of 8192 bytes at most'
);

-- the previous release's claim still works, without the new columns
select procrastinate_defer_job('later') as later \gset
select results_eq(
    'select id from procrastinate_fetch_jobs_v3(7, null, 10)',
    format('values (%s::bigint)', :later),
    'procrastinate_fetch_jobs_v3 claims as before'
);

select * from finish();
rollback;
