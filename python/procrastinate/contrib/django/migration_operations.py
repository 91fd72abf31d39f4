"""The Django migration operation applying one file of migrations/.

Each Django migration of this app holds one ``ApplyProcrastinateMigration``,
named after a file of migrations/pre or migrations/post: it calls the
schema's migration runner (procrastinate._db.migrations) on Django's connection,
up to and including that file. So:

- the runner does the work as ``procrastinate schema --migrate`` would (one
  transaction per file, the row in procrastinate_migrations, the checksum
  check, the advisory lock, the conversion of a procrastinate 3.x database);
- a database migrated by ``procrastinate schema --migrate`` (or installed by
  ``--apply``) has its rows in procrastinate_migrations: nothing is applied
  again, Django only records its migration;
- ``manage.py migrate procrastinate NNNN_...`` stops after that file (the last
  pre migration of a release, before deploying it; see docs/django.md).

Adding migrations/pre/0002_add_thing.sql needs a Django migration
0002_add_thing.py with ``ApplyProcrastinateMigration("0002_add_thing")`` and a
dependency on the previous one (the tests check that each file has one).
"""

from __future__ import annotations

import re
from typing import Any

from django.db.migrations.operations.base import Operation

from procrastinate._db import files, migrations

_NAME = re.compile(r"^(?P<number>[0-9]{4})_[a-z0-9_]+$")


def _shipped(name: str) -> Any:
    """The files.Migration of the shipped file called ``name``."""
    for migration in files.discover():
        if f"{migration.number:04d}_{migration.name}" == name:
            return migration
    raise files.MigrationError(
        f"no file {name}.sql in {files.migrations_dir()}/pre or /post: the "
        "Django migration and the SQL migration must have the same name"
    )


def apply_migrations(connection: Any, target: int | None = None) -> list[str]:
    """Apply the pending procrastinate migrations (up to number ``target``)
    through Django's ``connection`` (a connection wrapper); returns the labels
    of the files applied. Must run outside any transaction."""
    import psycopg
    from django.core.exceptions import ImproperlyConfigured
    from django.db import transaction

    from . import utils

    if connection.vendor != "postgresql":
        raise ImproperlyConfigured(
            f"procrastinate needs PostgreSQL; the database {connection.alias!r} is "
            f"{connection.vendor}"
        )
    if connection.in_atomic_block:
        raise transaction.TransactionManagementError(
            "procrastinate migrations run each file in its own transaction: they "
            "cannot run inside a transaction (atomic = False in the Django migration)"
        )
    connection.ensure_connection()
    raw = connection.connection
    if isinstance(raw, psycopg.Connection):
        plan = migrations.migrate(raw, target=target)
    else:
        # psycopg2 under Django: the runner speaks psycopg 3 (always installed).
        with psycopg.connect(**utils.connector_params(connection.alias)) as own:
            plan = migrations.migrate(own, target=target)
    return [step.label for step in plan.steps]


class ApplyProcrastinateMigration(Operation):
    """Apply migrations/{pre,post}/<name>.sql (and any earlier one pending)."""

    reversible = False
    reduces_to_sql = True
    elidable = False

    def __init__(self, name: str):
        match = _NAME.match(name)
        if not match:
            raise ValueError(f"expected a migration name such as 0001_create_schema, got {name!r}")
        self.name = name
        self.number = int(match["number"])

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", [self.name], {})

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass  # the schema is not Django's: the models are unmanaged

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        from django.db import router

        # Database routers decide, as for RunSQL (multi-database projects).
        if not router.allow_migrate(schema_editor.connection.alias, app_label):
            return
        migration = _shipped(self.name)
        if schema_editor.collect_sql:  # manage.py sqlmigrate
            schema_editor.collected_sql.append(migration.sql())
            return
        apply_migrations(schema_editor.connection, target=self.number)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        from django.db.migrations.exceptions import IrreversibleError

        raise IrreversibleError(
            "procrastinate migrations have no down migrations (see docs/deploy.md)"
        )

    def describe(self) -> str:
        return f"Apply the procrastinate schema migration {self.name}"

    @property
    def migration_name_fragment(self) -> str:
        return self.name
