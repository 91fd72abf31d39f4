-- The stall threshold is each holder's own lease: the stalled_after it
-- registered with, else procrastinate_settings.stalled_worker_timeout. How
-- often a job may be rescued is procrastinate_settings.max_rescues.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

update procrastinate_settings set stalled_worker_timeout = 120, max_rescues = 2;

select procrastinate_register_worker_v2(
    'short', null, 1, 'h', 1, p_stalled_after => 10, p_now => '2030-01-01 00:00:00+00'
) as short \gset
select procrastinate_register_worker_v2(
    'long', null, 1, 'h', 2, p_stalled_after => 600, p_now => '2030-01-01 00:00:00+00'
) as long \gset
select procrastinate_register_worker_v2(
    'default', null, 1, 'h', 3, p_now => '2030-01-01 00:00:00+00'
) as default_lease \gset

select procrastinate_defer_job('of_short', queue_name => 's') as of_short \gset
select procrastinate_defer_job('of_long', queue_name => 'l') as of_long \gset
select procrastinate_defer_job('of_default', queue_name => 'd') as of_default \gset
select procrastinate_defer_job('rescued_before', queue_name => 's') as rescued_before \gset
update procrastinate_jobs set rescue_count = 1 where id = :rescued_before;
select count(*) as c1
from procrastinate_fetch_jobs_v2(:short, array['s'], 2, p_now => '2030-01-01 00:00:00+00') \gset
select count(*) as c2
from procrastinate_fetch_jobs_v2(:long, array['l'], 1, p_now => '2030-01-01 00:00:00+00') \gset
select count(*) as c3
from procrastinate_fetch_jobs_v2(
    :default_lease, array['d'], 1, p_now => '2030-01-01 00:00:00+00'
) \gset

select results_eq(
    $$select job_id, status
      from procrastinate_rescue_stalled_jobs_v2(null, p_now => '2030-01-01 00:00:11+00')$$,
    format(
        $$values (%s::bigint, 'todo'::procrastinate_job_status), (%s, 'failed')$$,
        :of_short, :rescued_before
    ),
    'after 11 s, only the jobs of the worker with a 10 s lease are rescued'
);
select is(
    (select last_error from procrastinate_jobs where id = :rescued_before),
    format(
        'worker %s stopped heartbeating while running this job (rescue 2 of at most 2)', :short
    ),
    'a job rescued before reaches max_rescues 2 of the settings and ends failed'
);
select is_empty(
    $$select * from procrastinate_rescue_stalled_jobs_v2(null, p_now => '2030-01-01 00:01:59+00')$$,
    'after 119 s, the worker without a lease of its own (settings: 120 s) keeps its job'
);
select results_eq(
    $$select job_id from procrastinate_rescue_stalled_jobs_v2(
        null, p_now => '2030-01-01 00:02:01+00'
    )$$,
    format('values (%s::bigint)', :of_default),
    'after 121 s, its job is rescued: the settings'' stalled_worker_timeout applies'
);
select results_eq(
    format('select status, worker_id from procrastinate_jobs where id = %s', :of_long),
    format($$values ('doing'::procrastinate_job_status, %s::bigint)$$, :long),
    'the worker with a 600 s lease keeps its job after 121 s of silence'
);
select results_eq(
    $$select job_id from procrastinate_rescue_stalled_jobs_v2(
        null, p_now => '2030-01-01 00:10:01+00'
    )$$,
    format('values (%s::bigint)', :of_long),
    'after 601 s, its job is rescued too'
);

set local procrastinate.stalled_worker_timeout = 1;
select procrastinate_defer_job('of_new', queue_name => 'n') as of_new \gset
select procrastinate_register_worker_v2(
    'new', null, 1, 'h', 4, p_now => '2030-01-01 00:20:00+00'
) as new \gset
select count(*) as c4
from procrastinate_fetch_jobs_v2(:new, array['n'], 1, p_now => '2030-01-01 00:20:00+00') \gset
select is_empty(
    $$select * from procrastinate_rescue_stalled_jobs_v2(null, p_now => '2030-01-01 00:20:30+00')$$,
    'the former setting procrastinate.stalled_worker_timeout is not read'
);

select * from finish();
rollback;
