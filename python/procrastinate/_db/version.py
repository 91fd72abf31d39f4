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

Asked by the worker before it starts, ``procrastinate healthchecks``,
``connector.check()`` (procrastinate.schema), ``manage.py procrastinate
healthchecks``, and (for the kind) the migrations runner: ``read`` and
``check`` take a connector or a psycopg 3 connection, ``check_async`` an
async connector.
"""

from __future__ import annotations

import pathlib
from typing import Any, NamedTuple

import psycopg.rows

from procrastinate import connector as connector_module
from procrastinate import exceptions
from procrastinate._db import files, ops, schema_queries

MIGRATE_COMMAND = "procrastinate schema --migrate"


class SchemaVersion(NamedTuple):
    #: empty: no procrastinate table; current: it has procrastinate_migrations;
    #: upstream: created by procrastinate 3.x, not converted; converting: a
    #: 3.x database whose conversion has started.
    kind: str
    #: The numbers recorded in procrastinate_migrations.
    applied: frozenset[int]


def read_operation() -> connector_module.Operation[SchemaVersion]:
    row = yield connector_module.call_one(schema_queries.SCHEMA_STATE)
    applied: frozenset[int] = frozenset()
    if row["has_migrations"]:
        query = schema_queries.APPLIED_MIGRATIONS
        if not row["has_reader"]:
            query = schema_queries.APPLIED_MIGRATIONS_FROM_TABLE
        applied = frozenset(r["number"] for r in (yield connector_module.call_all(query)))
    return SchemaVersion(row["kind"], applied)


def raise_for(state: SchemaVersion, directory: pathlib.Path | None = None) -> None:
    """SchemaVersionMismatch, with the reason, unless code shipping the
    migrations of ``directory`` may run on that database."""
    if state.kind == "empty":
        reason = (
            "the database has no procrastinate schema: run `procrastinate schema --apply`"
            f" (or `{MIGRATE_COMMAND}`)"
        )
    elif state.kind == "upstream":
        reason = (
            "the database has procrastinate 3.x's schema: convert it with "
            f"`{MIGRATE_COMMAND} --phase pre` (3.x workers keep working), deploy, then "
            f"`{MIGRATE_COMMAND} --phase post` once no 3.x worker runs"
        )
    else:
        missing = [
            f"{m.number:04d}_{m.name}"
            for m in files.discover(directory)
            if m.phase == "pre" and m.number not in state.applied
        ]
        if not missing:
            return
        reason = (
            f"the database schema is older than this code (pending pre migrations: "
            f"{', '.join(missing)}): run `{MIGRATE_COMMAND} --phase pre` before starting workers"
        )
    raise exceptions.SchemaVersionMismatch(reason)


def check_operation(directory: pathlib.Path | None = None) -> connector_module.Operation[None]:
    raise_for((yield from read_operation()), directory)


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

    def execute(call: connector_module.Call) -> Any:
        # Rows as dicts, whatever the connection's row factory.
        with target.cursor(row_factory=psycopg.rows.dict_row) as cursor:
            cursor.execute(call.query, call.arguments or None)
            rows = cursor.fetchall() if cursor.description is not None else []
        return rows if call.fetch == "all" else next(iter(rows), None)

    return ops.drive_sync(operation, execute)
