"""SchemaManager: install the SQL core (sql/, shipped with the package and
read through ``_db.files``) and check an installed one."""

from __future__ import annotations

import logging

from procrastinate import connector as connector_module
from procrastinate._db import files, psql_scripts, schema_queries, version

logger = logging.getLogger(__name__)


def check_operation(schema_sql: str) -> connector_module.Operation[bool]:
    """Install the schema if the database has none, else check its version
    (procrastinate._db.version: every pre migration this code ships applied).
    Meant to run in one transaction: the advisory lock makes concurrent
    callers install it once. True when this call installed it;
    SchemaVersionMismatch, with the reason, when this code must not run on it."""
    yield connector_module.call_none(schema_queries.LOCK_SCHEMA, key=schema_queries.SCHEMA_LOCK_KEY)
    state = yield from version.read_operation()
    if state.kind == "empty":
        logger.info("Installing the procrastinate schema", extra={"action": "apply_schema"})
        yield from _apply(schema_sql)
        return True
    version.raise_for(state)
    return False


class SchemaManager:
    def __init__(self, connector: connector_module.BaseConnector):
        self.connector = connector

    @staticmethod
    def get_schema() -> str:
        """The whole schema as one SQL script."""
        return files.read_schema()

    @staticmethod
    def get_migrations_path() -> str:
        """A folder of psql-ready scripts, one per migration, in ``ls`` order:
        procrastinate 3.x's way of migrating by hand (``cat FOLDER/FILE | psql``),
        recorded as ``schema --migrate`` records (see _db.psql_scripts).
        Written on demand into the user's cache directory."""
        return str(psql_scripts.scripts_dir())

    def apply_schema(self) -> None:
        """Run the schema script (fails if the schema is already there)."""
        connector_module.run_operation_sync(
            self.connector, _apply(self.get_schema()), transaction=True
        )

    async def apply_schema_async(self) -> None:
        await connector_module.run_operation_async(
            self.connector, _apply(self.get_schema()), transaction=True
        )

    def check(self) -> bool:
        """Install the schema if missing, else verify it (see check_operation)."""
        return connector_module.run_operation_sync(
            self.connector, check_operation(self.get_schema()), transaction=True
        )

    async def check_async(self) -> bool:
        return await connector_module.run_operation_async(
            self.connector, check_operation(self.get_schema()), transaction=True
        )


def _apply(schema_sql: str) -> connector_module.Operation[None]:
    """Install ``schema_sql`` into the connection's current schema."""
    row = yield connector_module.call_one(schema_queries.CURRENT_SCHEMA)
    yield connector_module.call_none(files.in_schema(schema_sql, row["schema"]))
