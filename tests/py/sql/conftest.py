"""Fixtures for tests of the SQL core that need several real sessions.

Each test gets its own database cloned from the schema template (the
`db_name` fixture of tests/py/conftest.py), so tests never see each other's
jobs.
"""

import psycopg
import pytest


@pytest.fixture
def connect(db_name):
    """Opens autocommit sessions on the test database; all closed at the end."""
    opened = []

    def _connect(**kwargs) -> psycopg.Connection:
        conn = psycopg.connect(dbname=db_name, autocommit=True, **kwargs)
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()
