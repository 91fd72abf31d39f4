"""Schema install and check, on real databases."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from procrastinate import (
    App,
    PsycopgConnector,
    SyncPsycopgConnector,
    exceptions,
    schema,
    sql_files,
)


async def test_check_installs_then_verifies(empty_db_dsn):
    app = App(connector=PsycopgConnector(conninfo=empty_db_dsn, min_size=1))
    async with app.open_async():
        assert not await app.check_connection_async()
        assert await app.get_connector().check() is True
        assert await app.check_connection_async()
        assert await app.connector.check() is False
        assert await app.configure_task("t").defer_async() == 1


async def test_concurrent_checks_install_once(empty_db_dsn):
    apps = [
        App(connector=PsycopgConnector(conninfo=empty_db_dsn, min_size=1))
        for _ in range(4)
    ]
    for app in apps:
        await app.open_async()
    try:
        results = await asyncio.gather(*(app.connector.check() for app in apps))
    finally:
        for app in apps:
            await app.close_async()
    assert sorted(results) == [False, False, False, True]


async def test_check_reports_missing_functions(app, db):
    db.execute("drop function procrastinate_heartbeat_v2(bigint, timestamptz)")
    with pytest.raises(
        exceptions.SchemaVersionMismatch, match="procrastinate_heartbeat_v2"
    ):
        await app.connector.check()


def test_sync_check_and_apply(empty_db_dsn):
    app = App(connector=SyncPsycopgConnector(conninfo=empty_db_dsn, min_size=1))
    with app.open():
        manager = app.schema_manager
        manager.apply_schema()
        assert app.check_connection()
        assert app.connector.check() is False
        with pytest.raises(exceptions.ConnectorException):
            manager.apply_schema()  # already there


async def test_apply_schema_async(empty_db_dsn):
    app = App(connector=PsycopgConnector(conninfo=empty_db_dsn, min_size=1))
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        assert await app.schema_manager.check_async() is False


def test_every_required_function_exists(db_dsn):
    from procrastinate import queries

    with psycopg.connect(db_dsn) as connection:
        for signature in queries.REQUIRED_FUNCTIONS:
            (found,) = connection.execute(
                "select to_regprocedure(%s)", [signature]
            ).fetchone()
            assert found is not None, signature


def test_schema_text_and_paths():
    assert schema.SchemaManager.get_schema() == sql_files.read_schema()
    assert "procrastinate_defer_jobs_v2" in schema.SchemaManager.get_schema()
    assert schema.SchemaManager.get_migrations_path() == str(sql_files.migrations_dir())
