-- procrastinate_settings.worker_synchronous_commit false: the transaction of
-- a registered worker's claim, report or heartbeat commits without waiting
-- for the disk (synchronous_commit off until its end, not after); true (the
-- default) leaves it alone, as does a claim without a worker id.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);
set local synchronous_commit = on;

select procrastinate_register_worker_v2('w', null, 10, 'h', 1) as w \gset
select procrastinate_defer_job('t') as j1 \gset
select procrastinate_defer_job('t') as j2 \gset

select 'savepoint by_default' \gexec
select count(*) from procrastinate_fetch_jobs_v5(:w, null, 1);
select is(current_setting('synchronous_commit'), 'on', 'by default a claim leaves it on');
select 'rollback to savepoint by_default' \gexec

update procrastinate_settings set worker_synchronous_commit = false;

select 'savepoint claim' \gexec
select count(*) from procrastinate_fetch_jobs_v5(null, null, 1);
select is(
    current_setting('synchronous_commit'), 'on',
    'a claim without a worker id leaves it on (its caller''s transaction may hold more)'
);
select count(*) from procrastinate_fetch_jobs_v5(:w, null, 1);
select is(current_setting('synchronous_commit'), 'off', 'a worker''s claim turns it off');
select 'rollback to savepoint claim' \gexec
select is(
    current_setting('synchronous_commit'), 'on',
    'for its own transaction only (here: up to the savepoint)'
);

select 'savepoint report' \gexec
select count(*) from procrastinate_finish_jobs_v1(
    :w, format('[{"id": %s, "status": "succeeded"}]', :j1)::jsonb
);
select is(current_setting('synchronous_commit'), 'off', 'a worker''s report turns it off');
select 'rollback to savepoint report' \gexec

select procrastinate_heartbeat_v2(:w);
select is(current_setting('synchronous_commit'), 'off', 'a worker''s heartbeat turns it off');

select * from finish();
rollback;
