-- The retry policy a worker sends with an outcome obeys the rules of a job's
-- own policy: negative waits or max_attempts are refused with PT005.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(2);

select procrastinate_defer_job('bare') as bare \gset
select count(*) as claimed from procrastinate_fetch_jobs_v2(7, null, 1) \gset

select throws_ok(
    format(
        $$select * from procrastinate_finish_jobs_v1(7, '[{"id": %s, "status": "failed",
            "policy": {"max_attempts": 0, "retry_wait": -3600}}]')$$,
        :bare
    ),
    'PT005', null,
    'a sent policy with a negative wait is refused (got: retried an hour in the past)'
);
select throws_ok(
    format(
        $$select * from procrastinate_finish_jobs_v1(7, '[{"id": %s, "status": "failed",
            "policy": {"max_attempts": -1}}]')$$,
        :bare
    ),
    'PT005', null,
    'a sent policy with a negative max_attempts is refused'
);

select * from finish();
rollback;
