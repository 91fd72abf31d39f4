-- p_delete_jobs: never keeps finished jobs, successful deletes succeeded
-- ones, always deletes every finished one; a job going back to todo for a
-- retry is never deleted. Deleted jobs take their events with them.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(8);

select procrastinate_defer_job('kept') as kept \gset
select procrastinate_defer_job('s1') as s1 \gset
select procrastinate_defer_job('f1') as f1 \gset
select procrastinate_defer_job('s2') as s2 \gset
select procrastinate_defer_job('f2') as f2 \gset
select procrastinate_defer_job('a2') as a2 \gset
select procrastinate_defer_job('r2', max_attempts => 0) as r2 \gset

select is(
    (select count(*)::integer from procrastinate_fetch_jobs_v2(7, null, 10)), 7,
    'worker 7 claims the seven jobs'
);

select is(
    (
        select f.status from procrastinate_finish_jobs_v1(
            7, format('[{"id": %s, "status": "succeeded"}]', :kept)::jsonb, 'never'
        ) as f
    ),
    'succeeded'::procrastinate_job_status,
    'never: the succeeded job is reported'
);
select results_eq(
    format(
        $$select job_id, accepted, status from procrastinate_finish_jobs_v1(
              7, '[{"id": %s, "status": "succeeded"}, {"id": %s, "status": "failed"}]',
              'successful')$$,
        :s1, :f1
    ),
    format(
        $$values (%s::bigint, true, 'succeeded'::procrastinate_job_status), (%s, true, 'failed')$$,
        :s1, :f1
    ),
    'successful: both outcomes are accepted'
);
select results_eq(
    format(
        $$select job_id, accepted, status from procrastinate_finish_jobs_v1(
              7,
              '[{"id": %s, "status": "succeeded"}, {"id": %s, "status": "failed"},
                {"id": %s, "status": "aborted"}, {"id": %s, "status": "failed"}]',
              'always')$$,
        :s2, :f2, :a2, :r2
    ),
    format(
        $$values (%s::bigint, true, 'succeeded'::procrastinate_job_status), (%s, true, 'failed'),
                 (%s, true, 'aborted'), (%s, true, 'todo')$$,
        :s2, :f2, :a2, :r2
    ),
    'always: every outcome is accepted, the retried job back in todo'
);
select is(
    (
        select array_agg(task_name order by id) from procrastinate_jobs
        where id in (:kept, :s1, :f1, :s2, :f2, :a2, :r2)
    ),
    array['kept', 'f1', 'r2'],
    'left: the job finished with never, the failure with successful, the retried job'
);
select is(
    (select status from procrastinate_jobs where id = :r2), 'todo'::procrastinate_job_status,
    'the retried job waits for its next run'
);
select is(
    (select count(*)::integer from procrastinate_events where job_id in (:s1, :s2, :f2, :a2)),
    0,
    'the events of deleted jobs are gone'
);
select is(
    (select count(*)::integer from procrastinate_events where job_id = :kept), 3,
    'the events of a kept job remain (deferred, started, succeeded)'
);

select * from finish();
rollback;
