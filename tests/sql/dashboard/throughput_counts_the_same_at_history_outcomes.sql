-- procrastinate_dashboard_throughput_v1 counts the 'succeeded' and 'failed'
-- events, which procrastinate_settings.history = 'outcomes' keeps: the same
-- jobs, run through the same calls at 'full' and at 'outcomes', give the same
-- counts; at 'none' they leave nothing to count.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

-- Defers 5 jobs in queue p_queue; claims and ends them at p_at: 3 succeed,
-- 1 fails for good, 1 fails and is retried (not an end).
create function pg_temp.run_jobs(p_queue text, p_at timestamptz)
returns void
language plpgsql
as $$
declare
    v_ids bigint[];
begin
    perform procrastinate_defer_job('t', queue_name => p_queue) from generate_series(1, 5);
    select array_agg(f.id order by f.id) into v_ids
    from procrastinate_fetch_jobs_v5(null, array[p_queue], 5, p_now => p_at) as f;
    perform procrastinate_finish_jobs_v1(
        null,
        jsonb_build_array(
            jsonb_build_object('id', v_ids[1], 'status', 'succeeded'),
            jsonb_build_object('id', v_ids[2], 'status', 'succeeded'),
            jsonb_build_object('id', v_ids[3], 'status', 'succeeded'),
            jsonb_build_object('id', v_ids[4], 'status', 'failed', 'retry', false),
            jsonb_build_object(
                'id', v_ids[5], 'status', 'failed', 'retry', jsonb_build_object('in', 30)
            )
        ),
        'never',
        p_at
    );
end;
$$;

select pg_temp.run_jobs('at_full', now() - interval '10 minutes');
update procrastinate_settings set history = 'outcomes';
select pg_temp.run_jobs('at_outcomes', now() - interval '10 minutes');
update procrastinate_settings set history = 'none';
select pg_temp.run_jobs('at_none', now() - interval '10 minutes');
update procrastinate_settings set history = 'full';

select results_eq(
    $$select t.succeeded, t.failed from procrastinate_dashboard_throughput_v1() as t
      where t.queue_name = 'at_full'$$,
    $$values (3::bigint, 1::bigint)$$,
    'full: 3 succeeded and 1 failed for good, in one bucket'
);
select results_eq(
    $$select t.bucket_start, t.succeeded, t.failed from procrastinate_dashboard_throughput_v1() as t
      where t.queue_name = 'at_outcomes'$$,
    $$select t.bucket_start, t.succeeded, t.failed from procrastinate_dashboard_throughput_v1() as t
      where t.queue_name = 'at_full'$$,
    'outcomes: the same counts in the same bucket'
);
select is(
    (
        select count(*)::integer from procrastinate_dashboard_throughput_v1() as t
        where t.queue_name = 'at_none'
    ),
    0,
    'none: nothing is counted'
);
select is(
    (
        select count(*)::integer from procrastinate_jobs as j
        where j.queue_name = 'at_none' and j.status in ('succeeded', 'failed')
    ),
    4,
    'none: the jobs did end'
);

select * from finish();
rollback;
