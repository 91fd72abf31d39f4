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
