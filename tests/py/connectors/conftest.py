"""The connector conformance suite: every test of this folder that takes
``kind`` runs once per connector (and, with ``form``, once per form of its
query methods it has: sync, async), each on a fresh database of
tests/py/conftest.py.

Django is set up once per process and cannot be set up twice on another
database (tests/py/django sets it up on its own): its run of the suite is a
pytest process of its own (PROCRASTINATE_CONFORMANCE_DJANGO=1, started by
test_conformance.py), in which Django is set up with the test project of
tests/py/django and each test gets a Django database alias on its fresh
database.
"""

from __future__ import annotations

import os
import pathlib
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

from procrastinate import PsycopgConnector, SyncPsycopgConnector

from conformance_kinds import (
    IN_DJANGO_PROCESS,
    KIND_NAMES,
    KINDS,
    Kind,
    Queries,
    close_connector,
    open_connector,
)

HERE = pathlib.Path(__file__).resolve().parent
DJANGO_TESTS = HERE.parent / "django"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "connectors_where(predicate): run the test only on the connectors "
        "(Kind) for which predicate is true",
    )
    config.addinivalue_line(
        "markers", "not_here: a conformance test for no connector of this process"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kind" not in metafunc.fixturenames:
        return
    kinds = [KINDS[name] for name in KIND_NAMES]
    for marker in metafunc.definition.iter_markers("connectors_where"):
        kinds = [kind for kind in kinds if marker.args[0](kind)]
    if not kinds:
        # None of this process' connectors (in the Django process: the
        # LISTEN test): left out (pytest_collection_modifyitems), not skipped.
        names = ("kind", "form") if "form" in metafunc.fixturenames else ("kind",)
        metafunc.parametrize(
            names, [pytest.param(*[None] * len(names), marks=pytest.mark.not_here)]
        )
        return
    if "form" in metafunc.fixturenames:
        pairs = [
            (kind, form)
            for kind in kinds
            for form in ("sync", "async")
            if form == "sync" or kind.async_forms
        ]
        metafunc.parametrize(
            ("kind", "form"), pairs, ids=[f"{k.name}-{form}" for k, form in pairs]
        )
    else:
        metafunc.parametrize("kind", kinds, ids=[kind.name for kind in kinds])


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    left_out = [item for item in items if item.get_closest_marker("not_here")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("not_here")]


# --- building connectors ---------------------------------------------------------------


@pytest.fixture(scope="session")
def django_project() -> Iterator[None]:
    """Django set up on the test project of tests/py/django (helpers of
    tests/py/django/django_helpers.py); its default database is created
    empty and left unused: each test adds an alias (django_alias)."""
    if not IN_DJANGO_PROCESS:
        raise RuntimeError("Django runs in a process of its own (see conftest)")
    sys.path[:0] = [str(DJANGO_TESTS)]
    from django_helpers import PROJECT, SETTINGS, create_database, drop_database

    name = create_database()
    os.environ["DJANGO_DATABASE_NAME"] = name
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    sys.path[:0] = [str(PROJECT)]
    import django

    django.setup()
    yield
    from django.db import connections

    connections.close_all()
    drop_database(name)


@pytest.fixture
def django_alias(request: pytest.FixtureRequest, db_name: str) -> Iterator[str]:
    """A Django database alias on this test's database."""
    request.getfixturevalue("django_project")
    from django.db import connections

    alias = f"conformance_{db_name}"
    connections.settings[alias] = {**connections.settings["default"], "NAME": db_name}
    yield alias
    # Connections of other threads die with the database (dropped by force).
    connections[alias].close()
    del connections.settings[alias]


def _build(kind: Kind, request: pytest.FixtureRequest, dsn: str, **json: Any) -> Any:
    if kind.name == "psycopg":
        return PsycopgConnector(conninfo=dsn, min_size=1, max_size=4, **json)
    if kind.name == "sync_psycopg":
        return SyncPsycopgConnector(conninfo=dsn, min_size=1, max_size=4, **json)
    if kind.name == "aiopg":
        from procrastinate.contrib.aiopg import AiopgConnector

        return AiopgConnector(dsn=dsn, minsize=1, maxsize=4, **json)
    if kind.name == "psycopg2":
        from procrastinate.contrib.psycopg2 import Psycopg2Connector

        return Psycopg2Connector(dsn=dsn, minconn=1, maxconn=4, **json)
    from procrastinate.contrib.django import DjangoConnector

    return DjangoConnector(alias=request.getfixturevalue("django_alias"), **json)


@pytest_asyncio.fixture
async def make_connector(
    kind: Kind, request: pytest.FixtureRequest, db_dsn: str
) -> AsyncIterator[Callable[..., Any]]:
    """Builds (not opens) connectors of ``kind`` on the test database,
    closed at the end; keyword arguments: json_dumps, json_loads."""
    built: list[Any] = []

    def make(**json: Any) -> Any:
        connector = _build(kind, request, db_dsn, **json)
        built.append(connector)
        return connector

    yield make
    for connector in built:
        await close_connector(kind, connector)


@pytest_asyncio.fixture
async def connector(kind: Kind, make_connector: Callable[..., Any]) -> Any:
    """An open connector of ``kind`` on the test database."""
    connector = make_connector()
    await open_connector(kind, connector)
    return connector


@pytest.fixture
def queries(form: str, connector: Any) -> Queries:
    return Queries(form, connector)
