-- Args over procrastinate.max_args_bytes or nested procrastinate.max_args_depth
-- levels deep are refused (PT001): workers must be able to load every job.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

select throws_ok(
    format(
        'select procrastinate_defer_job(%L, %L::jsonb)',
        'deep', '{"a": ' || repeat('[', 150) || repeat(']', 150) || '}'
    ),
    'PT001',
    'job #1 of 1 is invalid: it has args nested 100 levels deep or more'
    || ' (setting procrastinate.max_args_depth)',
    'args nested 150 levels deep are refused by default'
);
select lives_ok(
    format(
        'select procrastinate_defer_job(%L, %L::jsonb)',
        'nested', '{"a": ' || repeat('[', 50) || repeat(']', 50) || '}'
    ),
    'args nested 50 levels deep are accepted by default'
);

set local procrastinate.max_args_depth = 3;
select throws_ok(
    $$select procrastinate_defer_job('deep', '{"a": {"b": {"c": {"d": 1}}}}')$$,
    'PT001', null,
    'with max_args_depth 3, args nested 4 levels deep are refused'
);
select lives_ok(
    $$select procrastinate_defer_job('shallow', '{"a": {"b": 1}}')$$,
    'with max_args_depth 3, args nested 2 levels deep are accepted'
);

set local procrastinate.max_args_bytes = 200;
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
select is(
    (
        select array_agg(task_name order by id) from procrastinate_jobs
        where task_name in ('deep', 'nested', 'shallow', 'big', 'small')
    ),
    array['nested', 'shallow', 'small'],
    'only the accepted jobs were written'
);

select * from finish();
rollback;
