-- procrastinate_settings holds exactly one row, and its checks are hard caps
-- that even the owner cannot pass (23514): args of at most 256 MiB nested at
-- most 500 levels deep (workers must be able to load them), a positive lease,
-- at least one rescue.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(12);

select results_eq(
    $$select max_args_bytes, max_args_depth, stalled_worker_timeout, max_rescues
      from procrastinate_settings$$,
    $$values (10485760::bigint, 100, 30::double precision, 3)$$,
    'the one row holds the defaults: 10 MiB, 100 levels, 30 s, 3 rescues'
);
select throws_ok(
    'insert into procrastinate_settings (singleton) values (true)', '23505', null,
    'a second row with the same key is refused'
);
select throws_ok(
    'insert into procrastinate_settings (singleton) values (false)', '23514', null,
    'a second row with another key is refused: there is exactly one row'
);
select throws_ok(
    'update procrastinate_settings set max_args_depth = 501', '23514', null,
    'max_args_depth over 500 is refused'
);
select throws_ok(
    'update procrastinate_settings set max_args_depth = 0', '23514', null,
    'max_args_depth under 1 is refused'
);
select lives_ok(
    'update procrastinate_settings set max_args_depth = 500',
    'max_args_depth 500 is accepted'
);
select throws_ok(
    'update procrastinate_settings set max_args_bytes = 268435457', '23514', null,
    'max_args_bytes over 256 MiB is refused'
);
select throws_ok(
    'update procrastinate_settings set max_args_bytes = 0', '23514', null,
    'max_args_bytes under 1 is refused'
);
select throws_ok(
    'update procrastinate_settings set stalled_worker_timeout = 0', '23514', null,
    'a stalled_worker_timeout of 0 is refused'
);
select throws_ok(
    'update procrastinate_settings set max_rescues = 0', '23514', null,
    'max_rescues under 1 is refused'
);
select throws_ok(
    'update procrastinate_settings set max_args_bytes = null', '23502', null,
    'a setting cannot be null'
);
select is(
    (select count(*)::integer from procrastinate_settings), 1,
    'there is still exactly one row'
);

select * from finish();
rollback;
