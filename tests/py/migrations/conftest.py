"""Fixtures of the schema lifecycle tests: databases of every kind on the real
server of libpq's environment (PGHOST, PGPORT, PGUSER), each with a unique
name, dropped afterwards; a fake migrations folder; procrastinate 3.10 in a
throwaway virtualenv (made once, see scripts/migrations.py upstream_venv)."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
MIGRATIONS = ROOT / "migrations"
HERE = pathlib.Path(__file__).resolve().parent


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        "migrations_tool", ROOT / "scripts" / "migrations.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tool():
    """scripts/migrations.py, as a module (dump, compare, upstream venv helpers)."""
    return _load_tool()


@pytest.fixture
def new_db(tool) -> Iterator[Callable[[], str]]:
    """Creates empty databases with unique names; all dropped at the end."""
    made: list[str] = []

    def _new(suffix: str = "") -> str:
        name = f"mig_{uuid.uuid4().hex[:12]}{suffix}"
        tool.create_database(name)
        made.append(name)
        return name

    yield _new
    for name in made:
        tool.drop_database(name)


@pytest.fixture
def connect() -> Iterator[Callable[[str], psycopg.Connection]]:
    opened: list[psycopg.Connection] = []

    def _connect(name: str, **kwargs) -> psycopg.Connection:
        conn = psycopg.connect(dbname=name, autocommit=True, **kwargs)
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()


@pytest.fixture
def fresh_db(new_db, tool) -> str:
    """A database installed the way users do it from scratch: psql over sql/*.sql."""
    name = new_db("_fresh")
    tool.build_from_sql(name)
    return name


@pytest.fixture
def fake_migrations(tmp_path) -> pathlib.Path:
    """A migrations folder holding the real 0001 only; tests add files to it."""
    folder = tmp_path / "migrations"
    (folder / "pre").mkdir(parents=True)
    (folder / "post").mkdir()
    for path in (MIGRATIONS / "pre").glob("0001_*.sql"):
        shutil.copy(path, folder / "pre" / path.name)
    return folder


@pytest.fixture(scope="session")
def upstream_venv(tool) -> pathlib.Path:
    """A virtualenv holding procrastinate 3.10 from PyPI."""
    return tool.upstream_venv()


class Upstream:
    """Runs procrastinate 3.10 (CLI and tests/py/migrations/upstream_app.py) on one database."""

    def __init__(self, tool, venv: pathlib.Path, dbname: str):
        self.tool, self.venv, self.dbname = tool, venv, dbname

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(
            list(args),
            env=self.tool.upstream_env(self.dbname),
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return self.run(
            str(self.venv / "bin" / "procrastinate"), "--app", "upstream_app.app", *args
        )

    def script(self, command: str) -> dict:
        out = self.run(str(self.venv / "bin" / "python"), "upstream_app.py", command).stdout
        return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def upstream_db(new_db, upstream_venv, tool) -> tuple[str, Upstream]:
    """A database created by procrastinate 3.10's own `procrastinate schema --apply`."""
    name = new_db("_up")
    upstream = Upstream(tool, upstream_venv, name)
    upstream.cli("schema", "--apply")
    return name, upstream


def pytest_collection_modifyitems(config, items):
    # The 3.x virtualenv needs PyPI once; PROCRASTINATE_SKIP_UPSTREAM=1 skips
    # those tests on a machine without it (CI has it: never set it there).
    if os.environ.get("PROCRASTINATE_SKIP_UPSTREAM") == "1":
        skip = pytest.mark.skip(reason="PROCRASTINATE_SKIP_UPSTREAM=1")
        for item in items:
            if "upstream_db" in getattr(item, "fixturenames", ()) or "upstream_venv" in getattr(
                item, "fixturenames", ()
            ):
                item.add_marker(skip)
