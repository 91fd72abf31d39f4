"""``manage.py procrastinate healthchecks``: Django's database, this app's
Django migrations, the schema version, and the worker's connection. The lines
are procrastinate 3.x's ("Database connection: OK", "Migrations: OK",
"Default Django Procrastinate App: OK", "Worker App: OK"), which scripts may
read, with "Schema version: OK" added; a failure says what failed."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async

from procrastinate import app as app_module
from procrastinate import exceptions
from procrastinate._db import version

from . import procrastinate_app
from .django_connector import DjangoConnector
from .settings import settings


def check_django_side() -> list[str]:
    """Checks through Django's connection; raises ConnectorException on the
    first failure, else returns the lines to print."""
    from django.db import DatabaseError, connections
    from django.db.migrations.executor import MigrationExecutor

    alias = settings.DATABASE_ALIAS
    connection = connections[alias]
    lines = []
    try:
        connection.ensure_connection()
    except DatabaseError as exc:
        raise exceptions.ConnectorException(
            f"Cannot connect to the database {alias!r}: {exc}"
        ) from exc
    lines.append("Database connection: OK")

    executor = MigrationExecutor(connection)
    pending = [
        migration.name
        for migration, _backwards in executor.migration_plan(executor.loader.graph.leaf_nodes())
        if migration.app_label == "procrastinate"
    ]
    if pending:
        raise exceptions.ConnectorException(
            f"Django migrations of procrastinate not applied: {', '.join(pending)}. "
            "Run `manage.py migrate procrastinate`."
        )
    lines.append("Migrations: OK")

    # What a worker checks before it starts, through Django's connection.
    version.check(DjangoConnector(alias))
    lines.append("Schema version: OK")

    # deferring goes through Django's connection
    procrastinate_app.app.check_connection()
    lines.append("Default Django Procrastinate App: OK")
    return lines


async def healthchecks(app: app_module.App, **kwargs: Any) -> None:
    """The healthchecks command of manage.py procrastinate (``app`` has the
    worker's connector, opened)."""
    for line in await sync_to_async(check_django_side, thread_sensitive=True)():
        print(line)
    if not await app.check_connection_async():
        raise exceptions.ConnectorException(
            "The worker's connection works but finds no procrastinate_jobs table"
        )
    print("Worker App: OK")
