"""Fixtures for tests of the SQL core that need several real sessions.

Each test gets a database cloned from the template that holds the schema
(created by the Makefile; built here from sql/ when missing), so tests never
see each other's jobs.
"""

import pathlib
import uuid

import psycopg
import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
TEMPLATE = "procrastinate_template"


def _ensure_template(admin: psycopg.Connection) -> None:
    if admin.execute("select 1 from pg_database where datname = %s", (TEMPLATE,)).fetchone():
        return
    admin.execute(f'create database "{TEMPLATE}"')
    with psycopg.connect(dbname=TEMPLATE, autocommit=True) as conn:
        for path in sorted((REPO / "sql").glob("*.sql")):
            conn.execute(path.read_text())


@pytest.fixture
def sql_dbname():
    """Name of a fresh database holding the schema; dropped afterwards."""
    name = f"sqltest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        _ensure_template(admin)
        admin.execute(f'create database "{name}" template "{TEMPLATE}"')
    yield name
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def connect(sql_dbname):
    """Opens autocommit sessions on the test database; all closed at the end."""
    opened = []

    def _connect(**kwargs) -> psycopg.Connection:
        conn = psycopg.connect(dbname=sql_dbname, autocommit=True, **kwargs)
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()
