"""Schema install and check, on real databases."""

from __future__ import annotations

import asyncio
import pathlib
import re

import psycopg
import pytest

from procrastinate import (
    App,
    PsycopgConnector,
    SyncPsycopgConnector,
    exceptions,
    schema,
)
from procrastinate._db import files, psql_scripts, queries


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


async def test_check_refuses_a_schema_lacking_a_pre_migration(app, db):
    # check() asks what the worker asks (procrastinate._db.version): every
    # pre migration this code ships recorded in procrastinate_migrations.
    newest = max((m for m in files.discover() if m.phase == "pre"), key=lambda m: m.number)
    db.execute("delete from procrastinate_migrations where number = %s", [newest.number])
    with pytest.raises(exceptions.SchemaVersionMismatch) as info:
        await app.connector.check()
    assert f"{newest.number:04d}_{newest.name}" in str(info.value)
    assert "procrastinate schema --migrate --phase pre" in str(info.value)


async def test_check_refuses_a_procrastinate_3x_schema(app, db):
    db.execute("drop table procrastinate_migrations cascade")
    with pytest.raises(exceptions.SchemaVersionMismatch, match="3.x's schema"):
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


def test_every_function_the_driver_calls_exists(db_dsn):
    texts = [value for value in vars(queries).values() if isinstance(value, str)]
    called = set(re.findall(r"\b(procrastinate_\w+_v\d+)\(", "\n".join(texts)))
    assert "procrastinate_fetch_jobs_v4" in called
    with psycopg.connect(db_dsn) as connection:
        for name in sorted(called):
            (found,) = connection.execute(
                "select count(*) from pg_proc where proname = %s", [name]
            ).fetchone()
            assert found >= 1, name


def test_schema_text_and_paths(tmp_path, monkeypatch):
    assert schema.SchemaManager.get_schema() == files.read_schema()
    assert "procrastinate_defer_jobs_v2" in schema.SchemaManager.get_schema()
    # psql-ready scripts, generated (tests/py/test_migrations_path.py applies them)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = schema.SchemaManager.get_migrations_path()
    assert path == str(psql_scripts.scripts_dir())
    assert tmp_path in pathlib.Path(path).parents
