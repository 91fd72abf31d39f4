-- procrastinate_failed_jobs lists failed jobs with their error;
-- procrastinate_stalled_jobs lists running jobs whose worker is silent or gone.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(3);

select procrastinate_register_worker_v2('alive', null, 4, 'h1', 10) as alive \gset
select procrastinate_register_worker_v2(
    'dead', null, 1, 'h2', 20, p_stalled_after => 1, p_now => now() - interval '1 hour'
) as dead \gset
select procrastinate_defer_job('ko', queue_name => 'f') as ko \gset
select procrastinate_defer_job('ok', queue_name => 'f') as ok \gset
select procrastinate_defer_job('of_alive', queue_name => 'a') as of_alive \gset
select procrastinate_defer_job('of_dead', queue_name => 'd') as of_dead \gset
select procrastinate_defer_job('of_gone', queue_name => 'g') as of_gone \gset
select procrastinate_defer_job('anonymous', queue_name => 'n') as anonymous \gset
select count(*) as c1 from procrastinate_fetch_jobs_v2(:alive, array['f', 'a'], 10) \gset
select count(*) as c2
from procrastinate_fetch_jobs_v2(:dead, array['d'], 10, p_now => now() - interval '1 hour') \gset
select count(*) as c3 from procrastinate_fetch_jobs_v2(:dead + 1000, array['g'], 10) \gset
select count(*) as c4 from procrastinate_fetch_jobs_v2(null, array['n'], 10) \gset
select count(*) as finished from procrastinate_finish_jobs_v1(
    :alive,
    format(
        $$[{"id": %s, "status": "failed", "error": {"types": ["KeyError"], "message": "no key"}},
           {"id": %s, "status": "succeeded"}]$$,
        :ko, :ok
    )::jsonb
) \gset

select results_eq(
    $$select id, task_name, attempts, last_error, last_error_types from procrastinate_failed_jobs
      where queue_name = 'f'$$,
    format($$values (%s::bigint, 'ko'::text, 1, 'no key'::text, array['KeyError'])$$, :ko),
    'the failed job is listed with its error, not the succeeded one'
);
select results_eq(
    $$select id, worker_name from procrastinate_stalled_jobs
      where queue_name in ('a', 'd', 'g', 'n') order by id$$,
    format(
        $$values (%s::bigint, 'dead'::text), (%s, null), (%s, null)$$,
        :of_dead, :of_gone, :anonymous
    ),
    'jobs of a silent worker, of a missing worker and without worker are listed'
);
select is_empty(
    format('select 1 from procrastinate_stalled_jobs where id = %s', :of_alive),
    'the job of the live worker is not stalled'
);

select * from finish();
rollback;
