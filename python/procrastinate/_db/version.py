"""The schema version: may this code run on that database?

One criterion: the migration numbers recorded in procrastinate_migrations.
Code may run once every *pre* migration it ships is recorded. Pending post
migrations never stop it (they only remove what older code used), and a
number it does not ship is a newer schema, fine for older code (its pre
migrations only add). Every way a schema comes to be records its migrations:
the runner and Django's migrations (one row per file), a fresh install from
sql/ (sql/99_migration_records.sql, generated and checked by
scripts/migrations.py) and the procrastinate 3.x conversion (0001, at the end
of its last pre step).

One operation, ``read_operation``, reads the kind of database and its
applied numbers; ``problem`` explains what is wrong, or returns None. Asked by
the worker before it starts, ``procrastinate healthchecks``,
``connector.check()`` (procrastinate.schema), ``manage.py procrastinate
healthchecks``, and (for the kind) the migrations runner and ``schema
--status``. Entry points: ``read`` and ``check`` (a connector or a psycopg 3
connection), ``check_async`` (an async connector).
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterable
from typing import Any, NamedTuple

import psycopg.rows

from procrastinate import connector as connector_module
from procrastinate import exceptions
from procrastinate._db import files, schema_queries

MIGRATE_COMMAND = "procrastinate schema --migrate"


class SchemaVersion(NamedTuple):
    #: empty: no procrastinate table; current: it has procrastinate_migrations;
    #: upstream: created by procrastinate 3.x, not converted; converting: a
    #: 3.x database whose conversion has started.
    kind: str
    #: The numbers recorded in procrastinate_migrations.
    applied: frozenset[int]


def _kind(row: dict[str, Any]) -> str:
    if row["converting"]:
        return "converting"
    if row["has_migrations"]:
        return "current"
    return "upstream" if row["has_jobs"] else "empty"


def read_operation() -> connector_module.Operation[SchemaVersion]:
    row = yield connector_module.call_one(schema_queries.SCHEMA_STATE)
    applied: frozenset[int] = frozenset()
    if row["has_migrations"]:
        rows = yield connector_module.call_all(
            schema_queries.APPLIED_MIGRATIONS
            if row["has_reader"]
            else schema_queries.APPLIED_MIGRATIONS_FROM_TABLE
        )
        applied = frozenset(r["number"] for r in rows)
    return SchemaVersion(_kind(row), applied)


def problem(
    kind: str, applied: Iterable[int], directory: pathlib.Path | None = None
) -> str | None:
    """Why code shipping the migrations of ``directory`` must not run on that
    database, or None."""
    if kind == "empty":
        return (
            "the database has no procrastinate schema: run `procrastinate schema --apply`"
            f" (or `{MIGRATE_COMMAND}`)"
        )
    if kind == "upstream":
        return (
            "the database has procrastinate 3.x's schema: convert it with "
            f"`{MIGRATE_COMMAND} --phase pre` (3.x workers keep working), deploy, then "
            f"`{MIGRATE_COMMAND} --phase post` once no 3.x worker runs"
        )
    applied_set = set(applied)
    missing = [
        m for m in files.discover(directory) if m.phase == "pre" and m.number not in applied_set
    ]
    if missing:
        names = ", ".join(f"{m.number:04d}_{m.name}" for m in missing)
        return (
            f"the database schema is older than this code (pending pre migrations: {names}):"
            f" run `{MIGRATE_COMMAND} --phase pre` before starting workers"
        )
    return None


def raise_for(state: SchemaVersion, directory: pathlib.Path | None = None) -> None:
    """SchemaVersionMismatch, with the reason, unless this code may run."""
    reason = problem(state.kind, state.applied, directory)
    if reason:
        raise exceptions.SchemaVersionMismatch(reason)


def check_operation(directory: pathlib.Path | None = None) -> connector_module.Operation[None]:
    raise_for((yield from read_operation()), directory)


# --- entry points ---------------------------------------------------------------------


def read(target: Any) -> SchemaVersion:
    """read_operation on a connector or a psycopg Connection."""
    return _run_sync(target, read_operation())


def check(target: Any, directory: pathlib.Path | None = None) -> None:
    """SchemaVersionMismatch unless this code may run (connector or psycopg Connection)."""
    _run_sync(target, check_operation(directory))


async def check_async(
    connector: connector_module.BaseConnector, directory: pathlib.Path | None = None
) -> None:
    """check, on an async connector (the worker's, the CLI's)."""
    await connector_module.run_operation_async(connector, check_operation(directory))


def _run_sync(target: Any, operation: connector_module.Operation[Any]) -> Any:
    if isinstance(target, connector_module.BaseConnector):
        return connector_module.run_operation_sync(target, operation)
    return connector_module.run_sync(operation, _OnConnection(target))


class _OnConnection:
    """The calls of an operation on a psycopg 3 Connection, rows as dicts
    whatever the connection's row factory."""

    def __init__(self, connection: Any):
        self.connection = connection

    def execute_query_all(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
        with self.connection.cursor(row_factory=psycopg.rows.dict_row) as cursor:
            cursor.execute(query, arguments or None)
            return cursor.fetchall() if cursor.description is not None else []

    def execute_query_one(self, query: str, **arguments: Any) -> dict[str, Any] | None:
        rows = self.execute_query_all(query, **arguments)
        return rows[0] if rows else None
