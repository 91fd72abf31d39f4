-- A worker's lease (p_stalled_after) must be a positive number of seconds
-- (PT001). Only a trusted session may rescue without a worker id or pin the
-- clock (42501 for others); a dead worker holding no job is simply removed.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(8);

select throws_ok(
    $$select procrastinate_register_worker_v2('w', null, 1, 'h', 1, p_stalled_after => 0)$$,
    'PT001', 'p_stalled_after must be a positive number of seconds, got 0',
    'a lease of 0 is refused'
);
select throws_ok(
    $$select procrastinate_register_worker_v2('w', null, 1, 'h', 1, p_stalled_after => -5)$$,
    'PT001', null,
    'a negative lease is refused'
);
select lives_ok(
    $$select procrastinate_register_worker_v2('w', null, 1, 'h', 1, p_stalled_after => null)$$,
    'no lease is accepted: procrastinate_settings.stalled_worker_timeout applies'
);

select procrastinate_register_worker_v2(
    'idle', null, 1, 'h', 1, p_now => '2030-01-01 00:00:00+00'
) as idle \gset

select is_empty(
    $$select * from procrastinate_rescue_stalled_jobs_v2(null, p_now => '2030-01-01 00:10:00+00')$$,
    'an idle dead worker has no job to rescue'
);
select is_empty(
    format('select 1 from procrastinate_workers where id = %s', :idle),
    'but is removed'
);

\ir ../../sql_helpers/untrusted_login.sql
select procrastinate_register_worker_v2('mine', null, 1, 'h', 1) as mine \gset
update procrastinate_workers set registered_by = 'pgtap_untrusted_login' where id = :mine;

select is(
    pg_temp.sqlstate_as_untrusted('select * from procrastinate_rescue_stalled_jobs_v2(null)'),
    '42501',
    'an untrusted session cannot rescue without a worker id'
);
select is(
    pg_temp.sqlstate_as_untrusted(format(
        $$select * from procrastinate_rescue_stalled_jobs_v2(
            %s, p_now => now() + interval '1 day'
        )$$,
        :mine
    )),
    '42501',
    'an untrusted session cannot pin the clock of a rescue to take jobs early'
);
select is(
    pg_temp.sqlstate_as_untrusted(
        format('select * from procrastinate_rescue_stalled_jobs_v2(%s)', :mine)
    ),
    'ok',
    'an untrusted session rescues under the worker id its login registered'
);

select * from finish();
rollback;
