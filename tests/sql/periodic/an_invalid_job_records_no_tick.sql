-- When the job of a tick cannot be deferred (invalid, or its queueing lock
-- is taken), the call raises and the tick is not recorded: a later attempt
-- can still defer it.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(5);

select throws_ok(
    $$select procrastinate_defer_periodic_job_v1('report', '', 100, '{"task_name": ""}')$$,
    'PT001', null,
    'an invalid job object raises PT001'
);
select is_empty(
    $$select 1 from procrastinate_periodic_defers where task_name = 'report'$$,
    'the tick is not recorded'
);

select procrastinate_defer_job('report', queueing_lock => 'report') as waiting \gset
select throws_ok(
    $$select procrastinate_defer_periodic_job_v1(
        'report', '', 100, '{"task_name": "report", "queueing_lock": "report"}'
    )$$,
    'PT002', null,
    'a taken queueing lock raises PT002'
);
select is_empty(
    $$select 1 from procrastinate_periodic_defers where task_name = 'report'$$,
    'the tick is still not recorded'
);
select isnt(
    procrastinate_defer_periodic_job_v1('report', '', 100, '{"task_name": "report"}'), null,
    'the tick can be deferred later'
);

select * from finish();
rollback;
