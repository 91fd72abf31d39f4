"""The Django migrations of procrastinate.contrib.django: from nothing, on a
database migrated or installed without Django, one per SQL migration file."""

from __future__ import annotations

import pathlib
import shutil

import psycopg
import pytest

from procrastinate._db import files, migrations, version
from procrastinate.contrib.django import upstream_migrations

from django_helpers import conninfo, manage


def recorded(dbname: str) -> list[tuple]:
    with psycopg.connect(conninfo(dbname)) as connection:
        return connection.execute(
            "select number, name, phase, applied_at from procrastinate_migrations order by number"
        ).fetchall()


def django_recorded(dbname: str) -> list[str]:
    """Our migrations Django recorded, in order; procrastinate 3.x's names
    (upstream_migrations) are recorded too, all of them, checked apart."""
    with psycopg.connect(conninfo(dbname)) as connection:
        names = [
            row[0]
            for row in connection.execute(
                "select name from django_migrations where app = 'procrastinate' order by id"
            )
        ]
    upstream = [name for name in names if name in upstream_migrations.NAMES]
    assert upstream == upstream_migrations.NAMES, upstream
    return [name for name in names if name not in upstream_migrations.NAMES + [MERGE]]


#: joins procrastinate 3.x's names to our chain
MERGE = "0027_merge_procrastinate_3_names"


@pytest.mark.subprocess
def test_manage_py_migrate_from_nothing(new_database):
    result = manage(new_database, "migrate")
    assert result.returncode == 0, result.stderr
    assert "Applying procrastinate.0001_create_schema... OK" in result.stdout

    shipped = files.discover()
    assert [row[:3] for row in recorded(new_database)] == [
        (m.number, m.name, m.phase) for m in shipped
    ]
    assert django_recorded(new_database) == [f"{m.number:04d}_{m.name}" for m in shipped]
    with psycopg.connect(conninfo(new_database)) as connection:
        version.check(connection)  # what a worker checks before it starts
        assert all(state.applied_at for state in migrations.status(connection))

    again = manage(new_database, "migrate")
    assert again.returncode == 0, again.stderr
    assert "No migrations to apply" in again.stdout

    healthy = manage(new_database, "procrastinate", "healthchecks")
    assert healthy.returncode == 0, healthy.stderr
    assert "Schema version: OK" in healthy.stdout


@pytest.mark.subprocess
@pytest.mark.parametrize("how", ["schema --migrate", "schema --apply"])
def test_a_schema_installed_without_django_is_recognised(new_database, how):
    # What `procrastinate schema --migrate` and `--apply` run.
    with psycopg.connect(conninfo(new_database)) as connection:
        if how == "schema --migrate":
            migrations.migrate(connection)
        else:
            assert migrations.apply_schema(connection)
    before = recorded(new_database)

    result = manage(new_database, "migrate")

    assert result.returncode == 0, result.stderr
    # Django records its migration; nothing is applied again.
    assert "Applying procrastinate.0001_create_schema... OK" in result.stdout
    assert recorded(new_database) == before
    assert django_recorded(new_database) == [
        f"{m.number:04d}_{m.name}" for m in files.discover()
    ]


@pytest.mark.subprocess
def test_healthchecks_fail_before_migrate(new_database):
    result = manage(new_database, "procrastinate", "healthchecks")
    assert result.returncode == 1
    assert "manage.py migrate procrastinate" in result.stderr


def test_every_sql_migration_has_its_django_migration(django_database):
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration

    loader = MigrationLoader(connection)
    ours = sorted(
        (name, migration)
        for (app_label, name), migration in loader.disk_migrations.items()
        if app_label == "procrastinate" and name not in upstream_migrations.NAMES
    )
    expected = [f"{m.number:04d}_{m.name}" for m in files.discover()]
    assert [name for name, _ in ours if name != MERGE] == expected
    previous = None
    for name, migration in ours:
        operations = [
            op for op in migration.operations if isinstance(op, ApplyProcrastinateMigration)
        ]
        assert migration.atomic is False
        if name == MERGE:
            assert operations == []
            assert migration.dependencies == [
                ("procrastinate", previous),
                ("procrastinate", upstream_migrations.NAMES[-1]),
            ]
        else:
            assert [op.name for op in operations] == [name]
            assert migration.dependencies == ([("procrastinate", previous)] if previous else [])
        previous = name


def test_procrastinate_3_names_are_a_chain_that_installs_the_schema(django_database):
    """Each of 3.x's 41 names is ours: a chain holding the models' state from
    the first, and the schema by the last (a project's migration depending
    on it finds the tables)."""
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.operations import CreateModel

    from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration

    loader = MigrationLoader(connection)
    chain = [loader.disk_migrations["procrastinate", name] for name in upstream_migrations.NAMES]
    previous = None
    for migration in chain:
        assert migration.dependencies == ([("procrastinate", previous)] if previous else [])
        previous = migration.name
    assert {op.name for op in chain[0].operations if isinstance(op, CreateModel)} == {
        "ProcrastinateJob", "ProcrastinateEvent", "ProcrastinateWorker",
        "ProcrastinatePeriodicDefer",
    }
    assert [
        op.name for op in chain[-1].operations if isinstance(op, ApplyProcrastinateMigration)
    ] == ["0001_create_schema"]
    assert all(not m.operations for m in chain[1:-1])


def test_the_models_match_the_migrations(django_database):
    from django.core.management import call_command

    # Raises SystemExit(1) if makemigrations would write a migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_the_runner_stops_at_the_target(new_database, tmp_path):
    """What each Django migration asks the runner: files up to its own."""
    directory = tmp_path / "migrations"
    (directory / "pre").mkdir(parents=True)
    (directory / "post").mkdir()
    for m in files.discover():
        shutil.copy(m.path, directory / m.phase / m.path.name)
    last = max(m.number for m in files.discover())
    pathlib.Path(directory / "pre" / f"{last + 1:04d}_add_thing.sql").write_text(
        "create table procrastinate_test_thing (id integer);\n"
    )
    pathlib.Path(directory / "post" / f"{last + 2:04d}_drop_thing.sql").write_text(
        "drop table procrastinate_test_thing;\n"
    )
    with psycopg.connect(conninfo(new_database), autocommit=True) as connection:
        plan = migrations.migrate(connection, directory=directory, target=last + 1)
        shipped = [m.number for m in files.discover()]
        assert [m.number for m in plan.steps] == [*shipped, last + 1]
        assert connection.execute("select to_regclass('procrastinate_test_thing')").fetchone()[0]
        assert [m.number for m in migrations.pending(connection, directory=directory)] == [last + 2]
        plan = migrations.migrate(connection, directory=directory, target=last + 1)
        assert plan.steps == []
        migrations.migrate(connection, directory=directory)
        assert migrations.pending(connection, directory=directory) == []


@pytest.mark.subprocess
def test_manage_py_procrastinate_schema_then_migrate(new_database):
    """The deploy path without Django's targets: the runner's commands through
    manage.py, then Django's migrate records what is there."""
    status = manage(new_database, "procrastinate", "schema", "--status")
    assert status.returncode == 0, status.stderr
    assert "0001_create_schema" in status.stdout and "pending" in status.stdout

    pre = manage(new_database, "procrastinate", "schema", "--migrate", "--phase", "pre")
    assert pre.returncode == 0, pre.stderr
    before = recorded(new_database)
    assert [row[0] for row in before] == [m.number for m in files.discover()]

    result = manage(new_database, "migrate", "procrastinate")
    assert result.returncode == 0, result.stderr
    assert recorded(new_database) == before
    assert (
        "The schema is up to date."
        in manage(new_database, "procrastinate", "schema", "--status").stdout
    )


def test_run_procrastinate_sql_applies_a_shipped_file_through_the_runner(django_database):
    """procrastinate 3.x's migrations_utils.RunProcrastinateSQL, for projects'
    own migrations: our file names, run as our migrations run them."""
    from django.db import connection

    from procrastinate.contrib.django.migrations_utils import RunProcrastinateSQL

    operation = RunProcrastinateSQL("0013_leases.sql")
    assert operation.deconstruct() == (
        "procrastinate.contrib.django.migrations_utils.RunProcrastinateSQL",
        ["0013_leases"],
        {},
    )
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        operation.database_forwards("shop", editor, None, None)
    (shipped,) = [m for m in files.discover() if m.number == 13]
    assert editor.collected_sql == [shipped.sql()]
    with pytest.raises(ValueError, match="migration name"):
        RunProcrastinateSQL("leases")


def test_db_cleanup_is_where_procrastinate_3_has_it():
    from procrastinate.contrib.django import DjangoApp as exported
    from procrastinate.contrib.django.db_cleanup import (
        DjangoApp,
        close_db_connections,
        close_db_connections_async,
        with_db_cleanup,
    )

    assert exported is DjangoApp
    mine = object()
    assert with_db_cleanup({"task_middleware": [mine], "concurrency": 2}) == {
        "task_middleware": [close_db_connections, close_db_connections_async, mine],
        "concurrency": 2,
    }
