-- The statement triggers write one event per job, however many jobs one
-- statement touches, and none for updates that change no status.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(5);

create temporary table batch as
select d.id
from procrastinate_defer_jobs(
    (
        select jsonb_agg(jsonb_build_object('task_name', 'bulk', 'queue_name', 'bulk'))
        from generate_series(1, 50)
    )
) as d (id);

select is(
    (
        select count(*)::integer from procrastinate_events
        where job_id in (select b.id from batch as b) and type = 'deferred'
    ),
    50,
    'deferring 50 jobs in one call writes 50 deferred events'
);
select is(
    (select count(*)::integer from procrastinate_fetch_jobs_v2(1, array['bulk'], 100)), 50,
    'one fetch claims the 50 jobs'
);
select is(
    (
        select count(distinct job_id)::integer from procrastinate_events
        where job_id in (select b.id from batch as b) and type = 'started'
    ),
    50,
    'every job got its started event'
);
select is(
    (
        select count(*)::integer from procrastinate_events
        where job_id in (select b.id from batch as b)
    ),
    100,
    'exactly one deferred and one started event per job'
);
update procrastinate_jobs set args = '{"touched": true}' where id in (select b.id from batch as b);
select is(
    (
        select count(*)::integer from procrastinate_events
        where job_id in (select b.id from batch as b)
    ),
    100,
    'an update that changes no status writes no event'
);

select * from finish();
rollback;
