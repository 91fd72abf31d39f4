-- A heartbeat records that the worker is alive; false when its row is gone
-- (it was pruned as dead and must stop reporting under that id).
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(5);

select procrastinate_register_worker_v2(
    'w', null, 1, 'h', 1, p_now => '2030-01-01 00:00:00+00'
) as w \gset
select procrastinate_register_worker_v2(
    'other', null, 1, 'h', 2, p_now => '2030-01-01 00:00:00+00'
) as other \gset

select is(
    procrastinate_heartbeat_v1(:w, '2030-01-01 00:00:10+00'), true,
    'a registered worker''s heartbeat returns true'
);
select is(
    (select last_heartbeat from procrastinate_workers where id = :w),
    '2030-01-01 00:00:10+00'::timestamptz,
    'last_heartbeat is p_now'
);
select is(
    (select last_heartbeat from procrastinate_workers where id = :other),
    '2030-01-01 00:00:00+00'::timestamptz,
    'other workers are untouched'
);
delete from procrastinate_workers where id = :w;
select is(
    procrastinate_heartbeat_v1(:w, '2030-01-01 00:00:20+00'), false,
    'the heartbeat of a removed worker returns false'
);
select is(procrastinate_heartbeat_v1(null), false, 'a null worker id returns false');

select * from finish();
rollback;
