"""Helpers of the Django tests: databases and the test project's manage.py."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import uuid

import psycopg
import psycopg.conninfo
import psycopg.sql

PROJECT = pathlib.Path(__file__).resolve().parent / "project"
SETTINGS = "djproject.settings"


def _admin() -> psycopg.Connection:
    return psycopg.connect(dbname="postgres", autocommit=True)


def create_database(template: str = "template0") -> str:
    name = f"dj_{uuid.uuid4().hex[:16]}"
    with _admin() as connection:
        connection.execute(
            psycopg.sql.SQL("create database {} template {}").format(
                psycopg.sql.Identifier(name), psycopg.sql.Identifier(template)
            )
        )
    return name


def drop_database(name: str) -> None:
    with _admin() as connection:
        connection.execute(
            psycopg.sql.SQL("drop database if exists {} with (force)").format(
                psycopg.sql.Identifier(name)
            )
        )


def conninfo(name: str) -> str:
    return psycopg.conninfo.make_conninfo("", dbname=name)


def manage(database: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the test project's manage.py on ``database``, in a subprocess."""
    env = {
        **os.environ,
        "DJANGO_DATABASE_NAME": database,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
