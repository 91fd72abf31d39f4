-- Jobs are claimed highest priority first, then oldest (lowest id), and
-- come back in that order.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(3);

select procrastinate_defer_job('low_old', priority => 0) as low_old \gset
select procrastinate_defer_job('high_old', priority => 5) as high_old \gset
select procrastinate_defer_job('low_new', priority => 0) as low_new \gset
select procrastinate_defer_job('high_new', priority => 5) as high_new \gset
select procrastinate_defer_job('negative', priority => -1) as negative \gset

select results_eq(
    'select id from procrastinate_fetch_jobs_v2(1, null, 2)',
    format('values (%s::bigint), (%s::bigint)', :high_old, :high_new),
    'the two priority 5 jobs come first, oldest first'
);
select results_eq(
    'select id from procrastinate_fetch_jobs_v2(1, null, 10)',
    format('values (%s::bigint), (%s::bigint), (%s::bigint)', :low_old, :low_new, :negative),
    'then the priority 0 jobs oldest first, then the negative priority'
);
select is_empty(
    'select id from procrastinate_fetch_jobs_v2(1, null, 10)',
    'nothing is left to claim'
);

select * from finish();
rollback;
