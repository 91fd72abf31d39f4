-- Args over procrastinate_settings.max_args_bytes or nested max_args_depth
-- levels deep are refused (PT001): workers must be able to load every job.
-- The limits are a row only the owner may update, never a setting a caller
-- could SET in its own session.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(9);

select throws_ok(
    format(
        'select procrastinate_defer_job(%L, %L::jsonb)',
        'deep', '{"a": ' || repeat('[', 150) || repeat(']', 150) || '}'
    ),
    'PT001',
    'job #1 of 1 is invalid: it has args nested 100 levels deep or more'
    || ' (procrastinate_settings.max_args_depth)',
    'args nested 150 levels deep are refused by default'
);
select lives_ok(
    format(
        'select procrastinate_defer_job(%L, %L::jsonb)',
        'nested', '{"a": ' || repeat('[', 50) || repeat(']', 50) || '}'
    ),
    'args nested 50 levels deep are accepted by default'
);

update procrastinate_settings set max_args_depth = 3;
select throws_ok(
    $$select procrastinate_defer_job('deep', '{"a": {"b": {"c": {"d": 1}}}}')$$,
    'PT001', null,
    'with max_args_depth 3, args nested 4 levels deep are refused'
);
select lives_ok(
    $$select procrastinate_defer_job('shallow', '{"a": {"b": 1}}')$$,
    'with max_args_depth 3, args nested 2 levels deep are accepted'
);

update procrastinate_settings set max_args_bytes = 200;
select throws_ok(
    format(
        'select procrastinate_defer_job(%L, %L::jsonb)',
        'big', jsonb_build_object('s', repeat('x', 300))
    ),
    'PT001', null,
    'with max_args_bytes 200, 300 bytes of args are refused'
);
select lives_ok(
    format(
        'select procrastinate_defer_job(%L, %L::jsonb)',
        'small', jsonb_build_object('s', repeat('x', 100))
    ),
    'with max_args_bytes 200, 100 bytes of args are accepted'
);
update procrastinate_settings set max_args_bytes = default, max_args_depth = default;
set local procrastinate.max_args_depth = 100000;
set local procrastinate.max_args_bytes = 1;
select throws_ok(
    format(
        'select procrastinate_defer_job(%L, %L::jsonb)',
        'deep_set', '{"a": ' || repeat('[', 150) || repeat(']', 150) || '}'
    ),
    'PT001', null,
    'a session setting procrastinate.max_args_depth does not raise the depth limit'
);
select lives_ok(
    format(
        'select procrastinate_defer_job(%L, %L::jsonb)',
        'small_set', jsonb_build_object('s', repeat('x', 100))
    ),
    'a session setting procrastinate.max_args_bytes is not read either'
);
select is(
    (
        select array_agg(task_name order by id) from procrastinate_jobs
        where task_name in ('deep', 'nested', 'shallow', 'big', 'small', 'deep_set', 'small_set')
    ),
    array['nested', 'shallow', 'small', 'small_set'],
    'only the accepted jobs were written'
);

select * from finish();
rollback;
