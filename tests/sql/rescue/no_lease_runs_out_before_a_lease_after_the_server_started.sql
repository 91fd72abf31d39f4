-- After a crash or a restart of the server, every worker gets a whole lease
-- to reconnect: a lease is never counted from before the server started, so
-- the first worker back cannot take the jobs of the others, still running.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

select pg_postmaster_start_time() as started \gset
select procrastinate_register_worker_v2(
    'cut_off', null, 1, 'h', 1, p_stalled_after => 60,
    p_now => :'started'::timestamptz - interval '1 hour'
) as cut_off \gset
select procrastinate_register_worker_v2(
    'first_back', null, 1, 'h', 2, p_stalled_after => 60,
    p_now => :'started'::timestamptz - interval '1 hour'
) as first_back \gset
select procrastinate_defer_job('running', queue_name => 'p') as running \gset
select count(*) as claimed
from procrastinate_fetch_jobs_v2(
    :cut_off, array['p'], 1, p_now => :'started'::timestamptz - interval '1 hour'
) \gset

-- the first worker back beats half a lease after the server started
select procrastinate_heartbeat_v2(
    :first_back, :'started'::timestamptz + interval '30 seconds'
) as beat \gset
select is(
    _procrastinate_lease_expired(
        :'started'::timestamptz - interval '1 hour', 60,
        :'started'::timestamptz + interval '59 seconds'
    ),
    false,
    'a lease renewed an hour before the server started runs until a lease after the start'
);
select is_empty(
    format(
        $$select * from procrastinate_rescue_stalled_jobs_v2(
            %s, p_now => %L::timestamptz + interval '59 seconds'
        )$$,
        :first_back, :'started'
    ),
    'an hour of silence, but less than a lease since the server started: nothing is rescued'
);
select is(
    (select first_back_since from (
        select alive_since as first_back_since from procrastinate_workers where id = :first_back
    ) as w),
    :'started'::timestamptz - interval '1 hour',
    'a beat less than a lease after the start keeps the worker''s alive_since'
);
select results_eq(
    format(
        $$select job_id from procrastinate_rescue_stalled_jobs_v2(
            %s, p_now => %L::timestamptz + interval '61 seconds'
        )$$,
        :first_back, :'started'
    ),
    format('values (%s::bigint)', :running),
    'a lease after the start, the silent worker''s job is taken back'
);

select * from finish();
rollback;
