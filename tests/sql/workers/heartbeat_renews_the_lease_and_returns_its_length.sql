-- A heartbeat renews the worker's lease and returns its length in seconds;
-- null when its row is gone (it was pruned as dead and must stop reporting
-- under that id).
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

select procrastinate_register_worker_v2(
    'w', null, 1, 'h', 1, p_now => '2030-01-01 00:00:00+00'
) as w \gset
select procrastinate_register_worker_v2(
    'other', null, 1, 'h', 2, p_stalled_after => 7.5, p_now => '2030-01-01 00:00:00+00'
) as other \gset

select is(
    procrastinate_heartbeat_v2(:w, '2030-01-01 00:00:10+00'),
    (select stalled_worker_timeout from procrastinate_settings),
    'a worker registered without a lease of its own gets the setting''s length'
);
select is(
    procrastinate_heartbeat_v2(:other, '2030-01-01 00:00:01+00'), 7.5::double precision,
    'a worker registered with stalled_after gets its own'
);
select is(
    (select last_heartbeat from procrastinate_workers where id = :w),
    '2030-01-01 00:00:10+00'::timestamptz,
    'last_heartbeat is p_now'
);
select is(
    (select last_heartbeat from procrastinate_workers where id = :other),
    '2030-01-01 00:00:01+00'::timestamptz,
    'other workers are untouched'
);
delete from procrastinate_workers where id = :w;
select is(
    procrastinate_heartbeat_v2(:w, '2030-01-01 00:00:20+00'), null,
    'the heartbeat of a removed worker returns null'
);
select is(procrastinate_heartbeat_v2(null), null, 'a null worker id returns null');

select * from finish();
rollback;
