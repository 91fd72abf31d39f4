-- A batch with one bad job writes nothing: not the valid jobs before it,
-- not their events. The error names the bad job.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(8);

select count(*) as jobs_before from procrastinate_jobs \gset
select count(*) as events_before from procrastinate_events \gset

select throws_ok(
    $$select * from procrastinate_defer_jobs(
        '[{"task_name": "ok1"}, {"task_name": "ok2"}, {"task_name": ""}]'
    )$$,
    'PT001', 'job #3 of 3 is invalid: it needs a task_name, a non-empty string',
    'a batch whose third job has an empty task name is refused, naming job #3'
);
select is(
    (select count(*) from procrastinate_jobs), :jobs_before::bigint,
    'the valid jobs of the refused batch were not written'
);

select procrastinate_defer_job('holder', queueing_lock => 'taken') as holder_id \gset

select throws_ok(
    $$select * from procrastinate_defer_jobs_v2(
        '[{"task_name": "ok1"}, {"task_name": "ok2", "queueing_lock": "taken"}]'
    )$$,
    'PT002',
    'queueing lock "taken" is already taken by a waiting job',
    'a batch with a taken queueing lock is refused, naming the lock'
);
select is(
    (select count(*) from procrastinate_jobs), :jobs_before::bigint + 1,
    'only the holder of the lock was written'
);

select throws_ok(
    $$select * from procrastinate_defer_jobs(
        '[{"task_name": "a", "queueing_lock": "twice"},
          {"task_name": "b"},
          {"task_name": "c", "queueing_lock": "twice"}]'
    )$$,
    'PT002', 'queueing lock "twice" is used by several jobs of this batch',
    'a batch using one queueing lock twice is refused, naming the lock'
);
select is(
    (select count(*) from procrastinate_jobs), :jobs_before::bigint + 1,
    'nothing of that batch was written'
);

select throws_ok(
    $$select * from procrastinate_defer_jobs(
        '[{"task_name": "a", "scheduled_at": "2030-01-01"},
          {"task_name": "b", "scheduled_at": "soon"}]'
    )$$,
    'PT001', null,
    'a batch whose second job has an unparsable scheduled_at is refused'
);
select is(
    (select count(*) from procrastinate_events), :events_before::bigint + 1,
    'only the holder''s deferred event was written'
);

select * from finish();
rollback;
