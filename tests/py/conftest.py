"""Fixtures of the driver's tests: real PostgreSQL databases, never mocks.

The server comes from libpq's environment (PGHOST, PGPORT, PGUSER: set by
``make test/py`` for its private cluster). Each test that needs a database
gets a fresh one from the fixtures of procrastinate.testing (the pytest
plugin our users get): a clone of the template database holding the schema,
which one pytest process at a time builds when missing (pytest-xdist runs
several).

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
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import psycopg
import psycopg.conninfo
import psycopg.rows
import pytest
import pytest_asyncio

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYTHON_DIR = ROOT / "python"
if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))

import procrastinate  # noqa: E402
from procrastinate import testing  # noqa: E402

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
# croniter runs `file` at import (platform.architecture()): imported before
# counting, as procrastinate imports it lazily, in whichever test comes first.
import croniter  # noqa: E402, F401

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


# The databases come from procrastinate.testing, the pytest plugin users get:
# procrastinate_template (built once, by one pytest-xdist process at a time)
# and procrastinate_db (a clone of it per test).


@pytest.fixture(scope="session")
def procrastinate_dsn() -> str:
    """The test server with its address spelled out from the environment, so
    that each database's conninfo works in subprocesses too."""
    variables = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER"}
    parts = {key: os.environ[name] for key, name in variables.items() if os.environ.get(name)}
    return psycopg.conninfo.make_conninfo("", dbname="postgres", **parts)


@pytest.fixture(scope="session")
def template_db(procrastinate_template: str) -> str:
    """Name of the template database holding the schema."""
    return procrastinate_template


@pytest.fixture
def db_dsn(procrastinate_db: str) -> str:
    """Conninfo of a fresh database holding the schema, dropped after the test."""
    return procrastinate_db


@pytest.fixture
def db_name(db_dsn: str) -> str:
    return psycopg.conninfo.conninfo_to_dict(db_dsn)["dbname"]


@pytest.fixture
def empty_db_dsn(procrastinate_dsn: str) -> Iterator[str]:
    """A fresh database without the schema (for install tests, quickstart)."""
    with testing.throwaway_database(procrastinate_dsn, template="template0") as conninfo:
        yield conninfo


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
def apply_roles_sql(db: psycopg.Connection, procrastinate_dsn: str) -> Callable[[], None]:
    """Call it to apply sql/optional/roles.sql to the test database. Its
    group roles belong to the whole server: one test process at a time
    applies it (two creating them at once would collide)."""

    def apply() -> None:
        with psycopg.connect(procrastinate_dsn, autocommit=True) as lock:
            lock.execute("select pg_advisory_lock(hashtext('procrastinate roles.sql'))")
            db.execute((ROOT / "sql" / "optional" / "roles.sql").read_text())

    return apply
