"""`procrastinate schema --migrations-path`: the folder of psql-ready scripts
(procrastinate._db.psql_scripts), applied with the real psql the way
procrastinate 3.x's docs apply migrations, `cat FOLDER/FILE | psql`, and
compared with what the runner (`procrastinate schema --migrate`) does."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pathlib
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator

import psycopg
import psycopg.conninfo
import pytest

from procrastinate import cli_schema, schema, testing
from procrastinate._db import files, migrations, psql_scripts, version

pytestmark = pytest.mark.subprocess  # psql, ls, pg_dump, the CLI

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def cache_home(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """The scripts go under the test's folder, never into the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def tool():
    """scripts/migrations.py (its schema dump and comparison of two databases)."""
    spec = importlib.util.spec_from_file_location("migrations_tool", ROOT / "scripts/migrations.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def empty_db(procrastinate_dsn: str) -> Iterator[Callable[[], str]]:
    """Makes empty databases (no schema); returns their conninfo. All dropped at the end."""
    with contextlib.ExitStack() as stack:
        yield lambda: stack.enter_context(
            testing.throwaway_database(procrastinate_dsn, template="template0")
        )


def name_of(dsn: str) -> str:
    return psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]


def listed(folder: pathlib.Path) -> list[str]:
    """The folder's files in the order `ls` lists them."""
    result = subprocess.run(["ls", str(folder)], capture_output=True, text=True, check=True)
    return result.stdout.split()


def pipe(path: pathlib.Path, dsn: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`cat path | psql`: plain psql, the script on its standard input, no -1,
    no -v ON_ERROR_STOP (the script sets what it needs)."""
    return subprocess.run(
        ["psql", "-X", "-q", "-d", dsn, "-f", "-"],
        input=path.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def apply_all(folder: pathlib.Path, dsn: str, before: int | None = None) -> None:
    """Pipes every script of the folder (those numbered below ``before``) in `ls` order."""
    for name in listed(folder):
        if before is not None and int(name[:4]) >= before:
            break
        result = pipe(folder / name, dsn)
        assert result.returncode == 0, f"{name}:\n{result.stderr}"


def recorded(dsn: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        query = "select number from procrastinate_migrations order by number"
        return [row[0] for row in conn.execute(query)]


# --- the folder ---------------------------------------------------------------------------


def test_cli_prints_the_folder_and_needs_no_database(tmp_path, cache_home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCRASTINATE_")}
    # A server that cannot exist: the command must not try to reach one.
    env.update(PGHOST=str(tmp_path / "no-server"), PGPORT="1", XDG_CACHE_HOME=str(cache_home))
    paths = (str(ROOT / "python"), env.get("PYTHONPATH", ""))
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    result = subprocess.run(
        [sys.executable, "-m", "procrastinate", "schema", "--migrations-path"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    folder = pathlib.Path(result.stdout.strip())
    assert folder.is_dir() and cache_home in folder.parents
    assert listed(folder) == [psql_scripts.script_name(m) for m in files.discover()]
    # The Python API behind it prints the same folder.
    assert schema.SchemaManager.get_migrations_path() == str(folder)


def test_one_script_per_migration_in_the_order_they_apply():
    shipped = files.discover()
    names = listed(psql_scripts.scripts_dir())
    assert names == [f"{m.number:04d}_{m.phase}_{m.name}.sql" for m in shipped]
    # The 3.x conversion is not a step of this sequence (the runner applies
    # it only to a 3.x database, instead of 0001).
    assert len(names) == len(shipped) and files.discover_upstream()
    assert names[0] == "0001_pre_create_schema.sql"


def test_each_script_says_what_it_is_and_names_the_simpler_way():
    folder = psql_scripts.scripts_dir()
    for m in files.discover():
        text = (folder / psql_scripts.script_name(m)).read_text(encoding="utf-8")
        header = text.split("\n\n", 1)[0]
        assert f"-- procrastinate migration {m.number:04d}_{m.name}, phase {m.phase}" in header
        assert m.checksum in header
        assert "procrastinate schema --migrate" in header
        assert ("outside a transaction" in header) is not m.transactional
        assert text.count("\\set ON_ERROR_STOP on") == 1


def test_the_folder_is_rewritten_where_it_differs():
    folder = psql_scripts.scripts_dir()
    first = folder / "0001_pre_create_schema.sql"
    expected = first.read_text(encoding="utf-8")
    first.write_text("-- edited by hand\n", encoding="utf-8")
    (folder / "9999_post_stray.sql").write_text("select 1;\n", encoding="utf-8")
    assert psql_scripts.scripts_dir() == folder
    assert first.read_text(encoding="utf-8") == expected
    assert not (folder / "9999_post_stray.sql").exists()


def test_a_cache_others_may_write_to_is_not_used(tmp_path, cache_home, monkeypatch):
    if not hasattr(os, "getuid"):
        pytest.skip("POSIX permissions")
    shared = cache_home / "procrastinate-sqlcore"
    shared.mkdir(parents=True)
    shared.chmod(0o777)
    # The fallback, a folder of the user's own in the temporary directory.
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", None)  # computed again from TMPDIR
    (tmp_path / "tmp").mkdir()
    folder = psql_scripts.scripts_dir()
    assert (tmp_path / "tmp") in folder.parents
    assert not any(shared.iterdir())


# --- applied with psql ------------------------------------------------------------------


def test_psql_applies_the_scripts_as_the_runner_does(empty_db, tool):
    by_psql, by_runner = empty_db(), empty_db()
    apply_all(psql_scripts.scripts_dir(), by_psql)
    with psycopg.connect(by_runner, autocommit=True) as conn:
        migrations.migrate(conn)
    # Same schema (pg_dump --schema-only) and same rows in procrastinate_migrations.
    assert tool.compare_databases(name_of(by_runner), name_of(by_psql), "runner", "psql") == []
    with psycopg.connect(by_psql) as conn:
        out: list[str] = []
        assert cli_schema.run_schema_command("status", conn, echo=out.append) == 0
        assert "The schema is up to date." in out[0]
        assert migrations.pending(conn) == []
        version.check(conn)  # what a worker asks before it starts: no exception


def test_a_script_piped_twice_is_refused_changing_nothing(empty_db, tool):
    dsn = empty_db()
    folder = psql_scripts.scripts_dir()
    apply_all(folder, dsn)
    before = tool.dump_schema(name_of(dsn)), tool.records(name_of(dsn))
    for name in listed(folder):
        result = pipe(folder / name, dsn)
        assert result.returncode != 0
        assert f"procrastinate: {name} is already applied to this database" in result.stderr
    assert (tool.dump_schema(name_of(dsn)), tool.records(name_of(dsn))) == before


def test_a_script_is_refused_before_the_earlier_ones(empty_db):
    dsn = empty_db()
    folder = psql_scripts.scripts_dir()
    second = listed(folder)[1]
    result = pipe(folder / second, dsn)
    assert result.returncode != 0
    assert "procrastinate: apply 0001_pre_create_schema.sql first" in result.stderr
    with psycopg.connect(dsn) as conn:
        assert migrations.database_kind(conn) == "empty"


def test_a_failing_script_stops_and_records_nothing(empty_db):
    dsn = empty_db()
    with psycopg.connect(dsn, autocommit=True) as conn:
        # 0001 creates this table after the jobs table: it fails half-way.
        conn.execute("create table procrastinate_paused_queues (queue_name text)")
    result = pipe(psql_scripts.scripts_dir() / "0001_pre_create_schema.sql", dsn)
    assert result.returncode != 0
    assert 'relation "procrastinate_paused_queues" already exists' in result.stderr
    with psycopg.connect(dsn) as conn:
        # Rolled back whole: neither the tables before the error nor the record.
        assert conn.execute("select to_regclass('procrastinate_jobs')").fetchone() == (None,)
        assert migrations.database_kind(conn) == "empty"


def test_a_no_transaction_script_stopped_half_way_records_nothing_and_runs_again(empty_db):
    dsn = empty_db()
    folder = psql_scripts.scripts_dir()
    step = next(m for m in files.discover() if not m.transactional)
    apply_all(folder, dsn, before=step.number)
    script = folder / psql_scripts.script_name(step)
    with psycopg.connect(dsn) as holder:
        # A long transaction holds the jobs table: the index builds time out.
        holder.execute("lock table procrastinate_jobs in access exclusive mode")
        result = pipe(script, dsn, PGOPTIONS="-c lock_timeout=200ms")
        holder.rollback()
    assert result.returncode != 0
    assert "lock timeout" in result.stderr
    assert step.number not in recorded(dsn)
    result = pipe(script, dsn)
    assert result.returncode == 0, result.stderr
    assert recorded(dsn)[-1] == step.number


def test_scripts_refuse_a_procrastinate_3x_database(empty_db):
    dsn = empty_db()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create table procrastinate_jobs (id bigint)")  # what 3.x looks like
    result = pipe(psql_scripts.scripts_dir() / "0001_pre_create_schema.sql", dsn)
    assert result.returncode != 0
    assert "procrastinate 3.x's schema (not converted)" in result.stderr
    assert "procrastinate schema --migrate --phase pre" in result.stderr


def test_scripts_refuse_another_schema_than_public(empty_db):
    dsn = empty_db()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create schema elsewhere")
    script = psql_scripts.scripts_dir() / "0001_pre_create_schema.sql"
    result = pipe(script, dsn, PGOPTIONS="-c search_path=elsewhere")
    assert result.returncode != 0
    assert "install into schema public, not into elsewhere" in result.stderr
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from pg_class where relnamespace = "
                            "'elsewhere'::regnamespace").fetchone() == (0,)
