-- Every successful call of a worker is a sign of life: a fetch or a finish
-- renews its lease as a heartbeat does, so a worker busy fetching and
-- reporting is never rescued for a late heartbeat. (The rescues are an
-- operator's, null worker id: they apply the leases and nothing else.)
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(5);

select procrastinate_register_worker_v2(
    'busy', null, 2, 'h', 1, p_stalled_after => 60, p_now => '2030-01-01 00:00:00+00'
) as busy \gset
select procrastinate_defer_job('first', queue_name => 'r') as first \gset
select procrastinate_defer_job('second', queue_name => 'r') as second \gset

select count(*) as claimed
from procrastinate_fetch_jobs_v2(:busy, array['r'], 1, p_now => '2030-01-01 00:00:50+00') \gset
select is(
    (select last_heartbeat from procrastinate_workers where id = :busy),
    '2030-01-01 00:00:50+00'::timestamptz,
    'a fetch renews the lease'
);
select is_empty(
    $$select * from procrastinate_rescue_stalled_jobs_v2(null, p_now => '2030-01-01 00:01:40+00')$$,
    'a lease after the registration but less than one after the fetch: nothing to rescue'
);

select count(*) as claimed_2
from procrastinate_fetch_jobs_v2(:busy, array['r'], 1, p_now => '2030-01-01 00:01:00+00') \gset
select count(*) as reported
from procrastinate_finish_jobs_v1(
    :busy,
    format('[{"id": %s, "attempt": 0, "status": "succeeded"}]', :first)::jsonb,
    p_now => '2030-01-01 00:01:45+00'
) \gset
select is(
    (select last_heartbeat from procrastinate_workers where id = :busy),
    '2030-01-01 00:01:45+00'::timestamptz,
    'a finish renews the lease'
);
select is_empty(
    $$select * from procrastinate_rescue_stalled_jobs_v2(null, p_now => '2030-01-01 00:02:40+00')$$,
    'less than a lease after the finish: the running job stays with its worker'
);
select results_eq(
    $$select job_id
      from procrastinate_rescue_stalled_jobs_v2(null, p_now => '2030-01-01 00:02:46+00')$$,
    format('values (%s::bigint)', :second),
    'a lease after the last sign of life, the job is taken back'
);

select * from finish();
rollback;
