"""Installing into another schema than public, as procrastinate's "schema"
how-to describes it: the connector's ``options="-c search_path=myschema"``
decides where ``schema --apply`` creates the objects and where every query
goes, so that several instances share one database. Written from its
description."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import psycopg.conninfo
import pytest

import procrastinate
from procrastinate import testing
from procrastinate._db import migrations, version

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _app(dsn: str, schema: str | None) -> procrastinate.App:
    kwargs = {"options": f"-c search_path={schema}"} if schema else {}
    app = procrastinate.App(
        connector=procrastinate.SyncPsycopgConnector(
            conninfo=dsn, min_size=1, max_size=2, kwargs=kwargs
        )
    )

    @app.task(name="where")
    def where(label: str) -> str:
        return label

    return app


def _jobs(dsn: str, schema: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as connection:
        return connection.execute(
            f'select args ->> %s, status::text from "{schema}".procrastinate_jobs order by id',
            ["label"],
        ).fetchall()


def test_two_instances_in_one_database(empty_db_dsn):
    with psycopg.connect(empty_db_dsn, autocommit=True) as connection:
        connection.execute("create schema myschema")
    public, mine = _app(empty_db_dsn, None), _app(empty_db_dsn, "myschema")
    with public.open(), mine.open():
        public.schema_manager.apply_schema()
        mine.schema_manager.apply_schema()
        public.tasks["where"].defer(label="public")
        mine.tasks["where"].defer(label="mine")
        mine.tasks["where"].defer(label="mine too")

        outcomes = testing.run_deferred_jobs(mine)

    assert sorted(outcome.result for outcome in outcomes) == ["mine", "mine too"]
    assert _jobs(empty_db_dsn, "myschema") == [("mine", "succeeded"), ("mine too", "succeeded")]
    assert _jobs(empty_db_dsn, "public") == [("public", "todo")]

    with psycopg.connect(empty_db_dsn, options="-c search_path=myschema") as connection:
        version.check(connection)  # what a worker checks before it starts
        assert all(state.applied_at for state in migrations.status(connection))
        # every function of the schema pins it, pg_temp last (docs/security.md)
        paths = connection.execute(
            """
            select
                count(*) filter (where not exists (
                    select 1 from unnest(p.proconfig) as c (setting)
                    where c.setting like 'search_path=%%'
                )) as unpinned,
                array_agg(distinct c.setting) filter (where c.setting like 'search_path=%%')
            from pg_proc as p
            left join lateral unnest(p.proconfig) as c (setting) on true
            where p.pronamespace = 'myschema'::regnamespace
            """
        ).fetchone()
    assert paths == (0, ["search_path=pg_catalog, myschema, pg_temp"])


@pytest.mark.subprocess
def test_the_cli_installs_where_libpqs_options_point(empty_db_dsn):
    """``procrastinate schema --apply`` without an app: libpq's PGOPTIONS
    choose the schema, as the connector's options do."""
    with psycopg.connect(empty_db_dsn, autocommit=True) as connection:
        connection.execute('create schema "other Schema"')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCRASTINATE_")}
    env.update(
        PGDATABASE=psycopg.conninfo.conninfo_to_dict(empty_db_dsn)["dbname"],
        PGOPTIONS='-c search_path="other\\ Schema"',
        PYTHONPATH=os.path.join(ROOT, "python"),
    )
    for command in (["--apply"], ["--status"]):
        result = subprocess.run(
            [sys.executable, "-m", "procrastinate", "schema", *command],
            env=env, capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    with psycopg.connect(empty_db_dsn) as connection:
        assert connection.execute(
            "select to_regclass('\"other Schema\".procrastinate_jobs') is not null,"
            " to_regclass('public.procrastinate_jobs') is null"
        ).fetchone() == (True, True)
        connection.execute('set search_path = "other Schema"')
        deferred = connection.execute("select procrastinate_defer_job('t', '{}')")
        assert deferred.fetchone()[0] == 1
        pinned = connection.execute(
            "select p.proconfig from pg_proc as p"
            " where p.oid = 'procrastinate_defer_job'::regproc"
        ).fetchone()[0]
        assert pinned == ['search_path=pg_catalog, "other Schema", pg_temp']
