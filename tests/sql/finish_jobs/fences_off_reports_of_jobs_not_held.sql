-- Only the worker holding a job, at the attempt it fetched, changes it:
-- other reports are answered accepted false with a reason (not_held,
-- not_found, duplicate) and change nothing. The rest of the batch applies.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(9);

select procrastinate_defer_job('held') as held \gset
select procrastinate_defer_job('waiting', queue_name => 'later') as waiting \gset
select max(id) + 1000 as unknown from procrastinate_jobs \gset

select is(
    (select count(*)::integer from procrastinate_fetch_jobs_v2(7, array['default'], 10)),
    1,
    'worker 7 claims one job'
);

select results_eq(
    format(
        $$select job_id, accepted, status, scheduled_at, reason
          from procrastinate_finish_jobs_v1(8, '[{"id": %s, "status": "succeeded"}]')$$,
        :held
    ),
    format(
        $$values (%s::bigint, false, null::procrastinate_job_status, null::timestamptz,
                  'not_held'::text)$$,
        :held
    ),
    'another worker''s report is not_held'
);
select is(
    (
        select f.reason from procrastinate_finish_jobs_v1(
            7, format('[{"id": %s, "attempt": 3, "status": "succeeded"}]', :held)::jsonb
        ) as f
    ),
    'not_held',
    'a report for a stale attempt is not_held'
);
select is(
    (
        select f.reason from procrastinate_finish_jobs_v1(
            null, format('[{"id": %s, "status": "succeeded"}]', :held)::jsonb
        ) as f
    ),
    'not_held',
    'an anonymous report for a job held by a worker is not_held'
);
select is(
    (
        select f.reason from procrastinate_finish_jobs_v1(
            7, format('[{"id": %s, "status": "succeeded"}]', :waiting)::jsonb
        ) as f
    ),
    'not_held',
    'a report for a waiting job is not_held'
);
select results_eq(
    format(
        $$select status, worker_id, attempts, finished_at from procrastinate_jobs
          where id in (%s, %s) order by id$$,
        :held, :waiting
    ),
    $$values ('doing'::procrastinate_job_status, 7::bigint, 0, null::timestamptz),
             ('todo', null, 0, null)$$,
    'the fenced reports changed nothing'
);

select results_eq(
    format(
        $$select job_id, accepted, status, reason from procrastinate_finish_jobs_v1(
              7,
              '[{"id": %s, "status": "failed"},
                {"id": %s, "attempt": 0, "status": "succeeded"},
                {"id": %s, "status": "failed"}]'
          )$$,
        :unknown, :held, :held
    ),
    format(
        $$values (%s::bigint, false, null::procrastinate_job_status, 'not_found'::text),
                 (%s, true, 'succeeded', null),
                 (%s, false, null, 'duplicate')$$,
        :unknown, :held, :held
    ),
    'in one batch: an unknown id is not_found, the held job applies, its second report is a'
    || ' duplicate'
);
select results_eq(
    format('select status, attempts from procrastinate_jobs where id = %s', :held),
    $$values ('succeeded'::procrastinate_job_status, 1)$$,
    'the first report of the job was applied once'
);
select is(
    (
        select f.reason from procrastinate_finish_jobs_v1(
            7, format('[{"id": %s, "status": "failed"}]', :held)::jsonb
        ) as f
    ),
    'not_held',
    'a finished job cannot be reported again'
);

select * from finish();
rollback;
