"""Fixtures of the driver's tests: real PostgreSQL databases, never mocks.

The server comes from libpq's environment (PGHOST, PGPORT, PGUSER: set by
``make test/py`` for its private cluster). Each test that needs a database
gets a fresh one, cloned from the template database holding the schema
(``PROCRASTINATE_TEMPLATE_DB``, default ``procrastinate_template``), which is
built with scripts/db-template.sh (or from sql_files) when missing or stale,
by one pytest process at a time (pytest-xdist runs several).

Markers (registered in pyproject.toml, --strict-markers): ``chaos``,
``upstream`` and ``subprocess``; ``pytest_collection_modifyitems`` below puts
them on whole folders and on the tests using certain fixtures, so that
``pytest -m "not chaos and not upstream"`` (``make check``) is the edit loop.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import psycopg
import psycopg.rows
import psycopg.sql
import pytest
import pytest_asyncio

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYTHON_DIR = ROOT / "python"
if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))

import procrastinate  # noqa: E402
from procrastinate._db import files as sql_files  # noqa: E402

TEMPLATE = os.environ.get("PROCRASTINATE_TEMPLATE_DB", "procrastinate_template")
ADMIN_DB = "postgres"


# --- markers --------------------------------------------------------------------------

TESTS_DIR = pathlib.Path(__file__).resolve().parent
#: Folders whose every test is of these kinds.
FOLDER_MARKERS = {
    # Workers in subprocesses, killed, cut off by proxies; the server is
    # crashed and restarted: timing sensitive, run alone and serially.
    "chaos": ("chaos", "subprocess"),
}
#: Fixtures that make a test of these kinds (directly or through other fixtures).
FIXTURE_MARKERS = {
    # procrastinate 3.10 from PyPI, in a virtualenv made on first use
    # (tests/py/migrations/conftest.py)
    "upstream_venv": ("upstream", "subprocess"),
    "upstream_db": ("upstream", "subprocess"),
    # our CLI, manage.py, node, started as processes
    "run_cli": ("subprocess",),  # acceptance/, shell/
    "background": ("subprocess",),  # acceptance/
    "start_worker": ("subprocess",),  # periodic/
    "node": ("subprocess",),  # examples/test_node_worker.py
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names: set[str] = set()
        try:
            folder = item.path.relative_to(TESTS_DIR).parts[0]
        except ValueError:
            folder = ""
        names.update(FOLDER_MARKERS.get(folder, ()))
        for fixture in getattr(item, "fixturenames", ()):
            names.update(FIXTURE_MARKERS.get(fixture, ()))
        for name in sorted(names):
            if item.get_closest_marker(name) is None:
                item.add_marker(name)


# A test that starts a process and is not marked `subprocess` fails: the
# marker stays true as tests are added (checked during the test's call, not
# in fixtures, where session fixtures run scripts once for everyone).
_processes_started = 0
_popen_init = subprocess.Popen.__init__


def _counting_popen_init(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
    global _processes_started
    _processes_started += 1
    _popen_init(self, *args, **kwargs)


subprocess.Popen.__init__ = _counting_popen_init  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    before = _processes_started
    result = yield
    if _processes_started != before and item.get_closest_marker("subprocess") is None:
        pytest.fail(
            f"{item.nodeid} started {_processes_started - before} process(es) but is not "
            "marked `subprocess`: add @pytest.mark.subprocess (or a module-level "
            "pytestmark), or list its fixture in FIXTURE_MARKERS in tests/py/conftest.py",
            pytrace=False,
        )
    return result


def admin_connection() -> psycopg.Connection:
    return psycopg.connect(dbname=ADMIN_DB, autocommit=True)


def conninfo_for(dbname: str) -> str:
    """A conninfo string for ``dbname`` on the test server (explicit host,
    port and user from the environment, for subprocesses too)."""
    parts = {"dbname": dbname}
    for key, variable in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER")):
        if os.environ.get(variable):
            parts[key] = os.environ[variable]
    return psycopg.conninfo.make_conninfo("", **parts)


def _template_exists() -> bool:
    with admin_connection() as connection:
        row = connection.execute(
            "select 1 from pg_database where datname = %s", [TEMPLATE]
        ).fetchone()
    return row is not None


def _build_template_from_sql_files() -> None:
    building = f"{TEMPLATE}_building_{uuid.uuid4().hex[:8]}"
    with admin_connection() as connection:
        connection.execute(
            psycopg.sql.SQL("create database {} template template0").format(
                psycopg.sql.Identifier(building)
            )
        )
    try:
        with psycopg.connect(conninfo_for(building), autocommit=True) as connection:
            connection.execute(sql_files.read_schema())  # type: ignore[arg-type]
        with admin_connection() as connection:
            connection.execute(
                psycopg.sql.SQL("alter database {} rename to {}").format(
                    psycopg.sql.Identifier(building), psycopg.sql.Identifier(TEMPLATE)
                )
            )
    except BaseException:
        with admin_connection() as connection:
            connection.execute(
                psycopg.sql.SQL("drop database if exists {} with (force)").format(
                    psycopg.sql.Identifier(building)
                )
            )
        raise


@pytest.fixture(scope="session")
def template_db() -> str:
    """Name of the schema template, (re)built if missing or stale.

    Under pytest-xdist each worker process gets here: an advisory lock,
    taken in the admin database that every process connects to, lets one
    build while the others wait, then find it up to date (scripts/run-pytest.sh
    also builds it before pytest starts)."""
    with admin_connection() as lock:
        lock.execute(
            "select pg_advisory_lock(hashtext(%s))", [f"procrastinate template {TEMPLATE}"]
        )
        script = ROOT / "scripts" / "db-template.sh"
        if script.is_file():
            env = {**os.environ, "TEMPLATE_DB": TEMPLATE, "PGDATABASE": ADMIN_DB}
            subprocess.run([str(script)], check=True, env=env, stdout=subprocess.DEVNULL)
        elif not _template_exists():
            _build_template_from_sql_files()
    return TEMPLATE


def _create_database(template: str) -> str:
    name = f"pt_{uuid.uuid4().hex[:16]}"
    with admin_connection() as connection:
        connection.execute(
            psycopg.sql.SQL("create database {} template {}").format(
                psycopg.sql.Identifier(name), psycopg.sql.Identifier(template)
            )
        )
    return name


def _drop_database(name: str) -> None:
    with admin_connection() as connection:
        connection.execute(
            psycopg.sql.SQL("drop database if exists {} with (force)").format(
                psycopg.sql.Identifier(name)
            )
        )


@pytest.fixture
def db_name(template_db: str) -> Iterator[str]:
    """A fresh database holding the schema, dropped after the test."""
    name = _create_database(template_db)
    yield name
    _drop_database(name)


@pytest.fixture
def db_dsn(db_name: str) -> str:
    return conninfo_for(db_name)


@pytest.fixture
def empty_db_dsn() -> Iterator[str]:
    """A fresh database without the schema (for install tests, quickstart)."""
    name = _create_database("template0")
    yield conninfo_for(name)
    _drop_database(name)


@pytest.fixture
def db(db_dsn: str) -> Iterator[psycopg.Connection]:
    """A plain autocommit connection to the test database, rows as dicts,
    to look at what the driver wrote."""
    with psycopg.connect(
        db_dsn, autocommit=True, row_factory=psycopg.rows.dict_row
    ) as connection:
        yield connection


@pytest_asyncio.fixture
async def app(db_dsn: str) -> AsyncIterator[procrastinate.App]:
    """An App with an opened PsycopgConnector on a fresh database."""
    connector = procrastinate.PsycopgConnector(conninfo=db_dsn, min_size=1, max_size=4)
    app = procrastinate.App(connector=connector)
    async with app.open_async():
        yield app


@pytest.fixture
def sync_app(db_dsn: str) -> Iterator[procrastinate.App]:
    """An App with an opened SyncPsycopgConnector on a fresh database."""
    connector = procrastinate.SyncPsycopgConnector(
        conninfo=db_dsn, min_size=1, max_size=4
    )
    app = procrastinate.App(connector=connector)
    with app.open():
        yield app


@pytest.fixture
def apply_roles_sql(db: psycopg.Connection) -> Callable[[], None]:
    """Call it to apply sql/optional/roles.sql to the test database. Its
    group roles belong to the whole server: one test process at a time
    applies it (two creating them at once would collide)."""

    def apply() -> None:
        with admin_connection() as lock:
            lock.execute("select pg_advisory_lock(hashtext('procrastinate roles.sql'))")
            db.execute((ROOT / "sql" / "optional" / "roles.sql").read_text())

    return apply
