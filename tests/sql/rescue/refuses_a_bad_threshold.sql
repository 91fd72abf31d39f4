-- p_stalled_after must be a positive number of seconds (PT001); a dead
-- worker holding no job is simply removed.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(5);

select procrastinate_register_worker_v1(
    'idle', null, 1, 'h', 1, '2030-01-01 00:00:00+00'
) as idle \gset

select throws_ok(
    'select * from procrastinate_rescue_stalled_jobs_v1(0)',
    'PT001', 'p_stalled_after must be a positive number of seconds, got 0',
    'a threshold of 0 is refused'
);
select throws_ok(
    'select * from procrastinate_rescue_stalled_jobs_v1(-5)',
    'PT001', null,
    'a negative threshold is refused'
);
select throws_ok(
    'select * from procrastinate_rescue_stalled_jobs_v1(null)',
    'PT001', null,
    'a null threshold is refused'
);
select is_empty(
    $$select * from procrastinate_rescue_stalled_jobs_v1(30, 3, '2030-01-01 00:10:00+00')$$,
    'an idle dead worker has no job to rescue'
);
select is_empty(
    format('select 1 from procrastinate_workers where id = %s', :idle),
    'but is removed'
);

select * from finish();
rollback;
