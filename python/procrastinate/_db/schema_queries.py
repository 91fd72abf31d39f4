"""The SQL of the schema lifecycle, one named constant each: the schema
version (``version``), installing the schema (``procrastinate.schema``), the
migrations runner's bookkeeping (``migrations``) and the throwaway databases
of ``procrastinate.testing``.

Parameters are psycopg placeholders (``%(name)s``). Texts with ``{name}``
fields are ``psycopg.sql.SQL`` templates: their fields are filled with
``psycopg.sql.Identifier``, never with text.
"""

from __future__ import annotations

# --- the schema version -----------------------------------------------------------
# What kind of database this is (see version.SchemaVersion.kind), and how its
# applied migration numbers can be read.

SCHEMA_STATE = """
select case
        when to_regclass('procrastinate_upstream_migrations') is not null then 'converting'
        when to_regclass('procrastinate_migrations') is not null then 'current'
        when to_regclass('procrastinate_jobs') is not null then 'upstream'
        else 'empty'
    end as kind,
    to_regclass('procrastinate_migrations') is not null as has_migrations,
    to_regprocedure('procrastinate_applied_migrations_v1()') is not null as has_reader
"""

# Through the function when the schema has it (the roles of
# sql/optional/roles.sql have no right on the table), else from the table.
APPLIED_MIGRATIONS = """
select m as number from procrastinate_applied_migrations_v1() as m
"""
APPLIED_MIGRATIONS_FROM_TABLE = """
select number from procrastinate_migrations order by number
"""

# --- installing the schema (SchemaManager.check) ----------------------------------

# Serialises schema installs of concurrent callers (inside one transaction).
SCHEMA_LOCK_KEY = 0x70726F63  # "proc"
LOCK_SCHEMA = "select pg_advisory_xact_lock(%(key)s::bigint)"

# --- the migrations runner -------------------------------------------------------------

# Session-level: held while migrate() applies files, each in its own transaction.
TRY_MIGRATION_LOCK = "select pg_try_advisory_lock(%(key)s::bigint)"
MIGRATION_LOCK = "select pg_advisory_lock(%(key)s::bigint)"
MIGRATION_UNLOCK = "select pg_advisory_unlock(%(key)s::bigint)"

TABLE_EXISTS = "select to_regclass(%(table)s) is not null"

#: Where the schema goes: the first existing schema of the search_path.
CURRENT_SCHEMA = "select current_schema() as schema"

# The table recording migrations, and the progress of a procrastinate 3.x
# conversion: a table that exists only while the conversion is under way.
MIGRATIONS_TABLE = "procrastinate_migrations"
UPSTREAM_TRACKING = "procrastinate_upstream_migrations"
# {table}: either of them.
RECORDED_MIGRATIONS = "select number, name, phase, checksum, applied_at from {table}"
RECORD_MIGRATION = """
insert into {table} (number, name, phase, checksum)
values (%(number)s, %(name)s, %(phase)s, %(checksum)s)
"""
CREATE_UPSTREAM_TRACKING = """
create table if not exists procrastinate_upstream_migrations (
    number integer primary key,
    name text not null,
    phase text not null,
    checksum text not null,
    applied_at timestamptz not null default now()
)
"""
DROP_UPSTREAM_TRACKING = "drop table procrastinate_upstream_migrations"

# What a procrastinate 3.10 schema (3.4 and later: the schema did not change
# since) must have for the conversion files to apply: each query returns a
# non-null value when the object is there.
UPSTREAM_FINGERPRINT = {
    "table procrastinate_workers": "select to_regclass('procrastinate_workers')",
    "table procrastinate_events": "select to_regclass('procrastinate_events')",
    "table procrastinate_periodic_defers": "select to_regclass('procrastinate_periodic_defers')",
    "type procrastinate_job_to_defer_v1": "select to_regtype('procrastinate_job_to_defer_v1')",
    "function procrastinate_fetch_job_v2": (
        "select to_regprocedure('procrastinate_fetch_job_v2(character varying[], bigint)')"
    ),
    "function procrastinate_retry_job_v2": (
        "select to_regprocedure('procrastinate_retry_job_v2(bigint, timestamp with time zone,"
        " integer, character varying, character varying)')"
    ),
    "function procrastinate_unregister_worker_v1(bigint)": (
        "select to_regprocedure('procrastinate_unregister_worker_v1(bigint)')"
    ),
    "event type 'retried'": (
        "select 1 from pg_enum where enumtypid = to_regtype('procrastinate_job_event_type')"
        " and enumlabel = 'retried'"
    ),
}

# --- throwaway databases (procrastinate.testing) --------------------------------------

DATABASE_EXISTS = "select 1 from pg_database where datname = %(name)s"
CREATE_DATABASE = "create database {name} template {template}"
RENAME_DATABASE = "alter database {name} rename to {new_name}"
DROP_DATABASE = "drop database if exists {name} with (force)"
