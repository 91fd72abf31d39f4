"""The Django test project (tests/py/django/project) on a real database.

The session gets its own empty database, migrated from nothing by Django's
``migrate`` (procrastinate's Django migrations install the schema), and
Django set up in this process on it. Tests that need another database
(migrating from other states) create their own and run ``manage.py`` in a
subprocess.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from django_helpers import PROJECT, SETTINGS, conninfo, create_database, drop_database


@pytest.fixture
def new_database() -> Iterator[str]:
    """A fresh empty database (no schema), dropped after the test."""
    name = create_database()
    yield name
    drop_database(name)


@pytest.fixture(scope="session")
def django_database() -> Iterator[str]:
    """Django set up in this process on a new database, migrated from nothing."""
    name = create_database()
    os.environ["DJANGO_DATABASE_NAME"] = name
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    if str(PROJECT) not in sys.path:
        sys.path.insert(0, str(PROJECT))
    from django.core.management import call_command
    from django.test.utils import setup_test_environment, teardown_test_environment

    import django

    django.setup()
    # Test client responses carry their template context.
    setup_test_environment()
    call_command("migrate", verbosity=0)
    yield name
    from django.db import connections

    teardown_test_environment()
    connections.close_all()
    drop_database(name)


@pytest.fixture
def django_db(django_database: str) -> Iterator[psycopg.Connection[Any]]:
    """Empty queue and shop tables; a psycopg connection of our own (not
    Django's) to look at what was committed."""
    with psycopg.connect(conninfo(django_database), autocommit=True) as connection:
        connection.execute(
            "truncate procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers,"
            " procrastinate_workers, shop_order restart identity"
        )
        yield connection


@pytest.fixture
def admin_client(django_db: Any) -> Any:
    """Django's test client, logged in as a superuser."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user_model = get_user_model()
    user = user_model.objects.filter(username="admin").first()
    if user is None:
        user = user_model.objects.create_superuser("admin", "admin@example.com", "password")
    client = Client()
    client.force_login(user)
    return client
