-- A database built from sql/ records the migrations it already contains,
-- so that it reads like a database migrated step by step.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(3);

select results_eq(
    'select number, name, phase from procrastinate_migrations where number = 1',
    $$values (1, 'create_schema'::text, 'pre'::text)$$,
    'the first migration, which creates the schema, is recorded as applied'
);
select is_empty(
    $$select number from procrastinate_migrations where checksum !~ '^[0-9a-f]{64}$'$$,
    'every recorded migration has a sha256 checksum'
);
select is_empty(
    $$select m.number from procrastinate_migrations as m
      where m.number > 1 and not exists (
          select 1 from procrastinate_migrations as p where p.number = m.number - 1
      )
      -- 0007 and 0008 are reserved for a branch merged with this one
      and m.number <> 9$$,
    'recorded migrations have no gap in their numbers'
);

select * from finish();
rollback;
