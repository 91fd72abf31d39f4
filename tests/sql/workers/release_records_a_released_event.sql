-- A job given back unstarted (prefetch) records a released event, not
-- deferred_for_retry: its history must not tell an operator it ran and
-- failed. A released job whose abort was requested records aborted.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

select procrastinate_register_worker_v2('ahead', null, 1, 'h', 1) as ahead \gset
select procrastinate_defer_job('given_back', queue_name => 'r') as given_back \gset
select procrastinate_defer_job('abort_pending', queue_name => 'r') as abort_pending \gset
select count(*) as claimed
from procrastinate_fetch_jobs_v2(:ahead, array['r'], 10, p_now => '2030-01-01 00:00:00+00') \gset
select procrastinate_cancel_job(:abort_pending, abort => true) as abort_requested \gset
select count(*) as released
from procrastinate_release_jobs_v2(
    :ahead, array[:given_back, :abort_pending]::bigint[], p_now => '2030-01-01 00:00:10+00'
) \gset

select is(
    (select array_agg(type::text order by id) from procrastinate_events where job_id = :given_back),
    array['deferred', 'started', 'released'],
    'a released job''s history reads deferred, started, released'
);
select is_empty(
    format(
        $$select 1 from procrastinate_events
          where job_id = %s and type = 'deferred_for_retry'$$,
        :given_back
    ),
    'it has no deferred_for_retry event'
);
select is(
    (select attempts from procrastinate_jobs where id = :given_back), 0,
    'no attempt was counted'
);
select is(
    (
        select array_agg(type::text order by id) from procrastinate_events
        where job_id = :abort_pending
    ),
    array['deferred', 'started', 'abort_requested', 'aborted'],
    'a released job whose abort was requested ends with an aborted event'
);

select * from finish();
rollback;
