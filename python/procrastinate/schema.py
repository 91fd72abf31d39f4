"""SchemaManager: install the SQL core (sql/, shipped with the package and
read through ``sql_files``) and check an installed one."""

from __future__ import annotations

import logging
from typing import Any

from procrastinate import connector as connector_module
from procrastinate import exceptions, queries

logger = logging.getLogger(__name__)


def _sql_files() -> Any:
    from procrastinate import sql_files

    return sql_files


def check_operation(schema_sql: str) -> connector_module.Operation[bool]:
    """Install the schema if the database has none, else verify that every
    function the driver calls exists. Meant to run in one transaction: the
    advisory lock makes concurrent callers install it once. True when this
    call installed it; SchemaVersionMismatch when functions are missing."""
    yield connector_module.call_none(queries.LOCK_SCHEMA, key=queries.SCHEMA_LOCK_KEY)
    row = yield connector_module.call_one(queries.SCHEMA_INSTALLED)
    if not row["installed"]:
        logger.info(
            "Installing the procrastinate schema", extra={"action": "apply_schema"}
        )
        yield connector_module.call_none(schema_sql)
        return True
    missing = yield connector_module.call_all(
        queries.MISSING_FUNCTIONS, signatures=list(queries.REQUIRED_FUNCTIONS)
    )
    if missing:
        raise exceptions.SchemaVersionMismatch(
            "The procrastinate schema of this database lacks functions this "
            "version calls: "
            + ", ".join(row["signature"] for row in missing)
            + ". Apply the pending migrations."
        )
    return False


class SchemaManager:
    def __init__(self, connector: connector_module.BaseConnector):
        self.connector = connector

    @staticmethod
    def get_schema() -> str:
        """The whole schema as one SQL script."""
        return _sql_files().read_schema()

    @staticmethod
    def get_migrations_path() -> str:
        return str(_sql_files().migrations_dir())

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
    yield connector_module.call_none(schema_sql)
