-- Without its row every limit of procrastinate_settings would read null,
-- i.e. none: the row cannot be deleted nor the table truncated.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

select throws_ok(
    'delete from procrastinate_settings', 'PT001',
    'procrastinate_settings keeps its one row: update it instead',
    'deleting the settings row is refused'
);
select throws_ok(
    'truncate procrastinate_settings', 'PT001',
    'procrastinate_settings keeps its one row: update it instead',
    'truncating the settings is refused'
);
select is(
    (select count(*)::integer from procrastinate_settings), 1, 'the row is still there'
);
select lives_ok(
    'update procrastinate_settings set max_args_depth = 50',
    'the owner still changes a limit by updating the row'
);

select * from finish();
rollback;
