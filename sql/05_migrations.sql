-- Schema lifecycle: which migrations a database has had. The migration runner
-- (procrastinate schema --migrate) records each file it applies; a fresh
-- install from sql/ records every migration it already contains (see
-- 99_migration_records.sql), so both kinds of database read the same.

create table procrastinate_migrations (
    number integer primary key,
    name text not null,
    phase text not null,
    checksum text not null,
    applied_at timestamptz not null default now(),
    constraint procrastinate_migrations_phase check (phase in ('pre', 'post'))
);

comment on table procrastinate_migrations is
'Applied schema migrations: number and name (migrations/<phase>/<number>_<name>.sql), phase
(pre: expand, before deploying new code; post: contract, after), sha256 of the file as
applied, and when. procrastinate schema --status compares it with the shipped files.';

-- The numbers of the applied migrations: what a worker checks at start-up
-- (every pre migration its code ships must be there), readable by roles
-- that have no right on the tables.
create function procrastinate_applied_migrations_v1()
returns setof integer
language sql
stable
security definer
set search_path = pg_catalog, public, pg_temp
as $$
    select m.number from procrastinate_migrations as m order by m.number;
$$;
