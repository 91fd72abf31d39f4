"""procrastinate.testing: the pytest plugin's fixtures and run_deferred_jobs,
used as a project would use them (the plugin is loaded by its pytest11 entry
point)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import psycopg
import pytest

from procrastinate import jobs, testing

import plugin_app


def test_the_app_is_bound_to_a_throwaway_database(procrastinate_app, procrastinate_db):
    assert procrastinate_app is plugin_app.app
    assert plugin_app.add.defer(a=1, b=2) == 1  # a fresh database: ids start at 1
    with psycopg.connect(procrastinate_db) as connection:
        assert connection.execute("select count(*) from procrastinate_jobs").fetchone() == (1,)
        name = connection.execute("select current_database()").fetchone()[0]
    assert name.startswith("procrastinate_test_")


def test_each_test_gets_its_own_database(procrastinate_app):
    assert procrastinate_app.job_manager.list_jobs() == []
    assert plugin_app.add.defer(a=1, b=2) == 1


def test_run_deferred_jobs_returns_the_outcomes(procrastinate_app):
    first = plugin_app.add.defer(a=1, b=2)
    second = plugin_app.add_async.defer(a=2, b=2)
    failed = plugin_app.fail.defer(message="boom")
    later = plugin_app.add.configure(schedule_in={"hours": 1}).defer(a=0, b=0)

    outcomes = testing.run_deferred_jobs(procrastinate_app)

    assert [(o.id, o.task_name, o.status, o.result) for o in outcomes] == [
        (first, "add", jobs.Status.SUCCEEDED, 3),
        (second, "add_async", jobs.Status.SUCCEEDED, 4),
        (failed, "fail", jobs.Status.FAILED, None),
    ]
    assert outcomes[0].succeeded and outcomes[0].exception is None
    assert outcomes[0].args == {"a": 1, "b": 2}
    # retry=2: retried twice, at once; the last exception is kept.
    assert outcomes[2].attempts == 3 and plugin_app.CALLS == ["boom"] * 3
    assert isinstance(outcomes[2].exception, ValueError)
    assert outcomes[2].error == "ValueError: boom"
    # The job scheduled later was left alone, and the app works as before.
    assert procrastinate_app.job_manager.get_job_status(later) is jobs.Status.TODO
    assert testing.run_deferred_jobs(procrastinate_app) == []


def test_jobs_deferred_by_jobs_run_too(procrastinate_app):
    plugin_app.fan_out.defer(n=2)
    plugin_app.fan_out_async.defer(n=1)
    outcomes = testing.run_deferred_jobs(procrastinate_app)
    assert [(o.task_name, o.result) for o in outcomes] == [
        ("fan_out", None),
        ("fan_out_async", None),
        ("add", 0),
        ("add", 2),
        ("add_async", 1),
    ]
    # Periodic tasks are not deferred by the run.
    assert all(o.task_name != "every_second" for o in outcomes)


def test_worker_options_and_unknown_tasks(procrastinate_app):
    plugin_app.add.configure(queue="other").defer(a=1, b=1)
    unknown = procrastinate_app.configure_task("not.registered").defer()
    outcomes = testing.run_deferred_jobs(procrastinate_app, queues=["default"])
    assert [(o.id, o.status) for o in outcomes] == [(unknown, jobs.Status.FAILED)]
    assert "not.registered" in outcomes[0].error
    (other,) = testing.run_deferred_jobs(procrastinate_app, queues=["other"])
    assert other.result == 2


async def test_in_an_async_test(procrastinate_app):
    async with procrastinate_app.open_async():
        await plugin_app.add_async.defer_async(a=20, b=22)
        (outcome,) = await testing.run_deferred_jobs_async(procrastinate_app)
        assert outcome.result == 42
        # Run on the app's own opened connector.
        assert await procrastinate_app.job_manager.list_jobs_async(status="succeeded")
    # The sync form also works from a running loop (in a thread of its own).
    assert testing.run_deferred_jobs(procrastinate_app) == []


@pytest.mark.subprocess
def test_the_default_app_and_the_dsn_option(tmp_path):
    """In another pytest run, as a user would: -p procrastinate.testing (also
    auto-loaded), --procrastinate-dsn, the default procrastinate_base_app."""
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            from procrastinate import testing

            def test_default_app(procrastinate_app, procrastinate_dsn):
                assert procrastinate_dsn == "dbname=postgres"

                @procrastinate_app.task(name="hello")
                def hello():
                    return "hi"

                hello.defer()
                (outcome,) = testing.run_deferred_jobs(procrastinate_app)
                assert outcome.result == "hi"
            """
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "procrastinate.testing",
            "-p",
            "no:cacheprovider",
            "--procrastinate-dsn=dbname=postgres",
            "-q",
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PGDATABASE": "does_not_exist"},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_admin_conninfo_defaults_to_the_postgres_database(monkeypatch):
    monkeypatch.delenv("PGDATABASE", raising=False)
    assert testing.admin_conninfo("") == "dbname=postgres"
    assert testing.admin_conninfo("dbname=other") == "dbname=other"
    monkeypatch.setenv("PGDATABASE", "mine")
    assert testing.admin_conninfo("") == ""


@pytest.fixture
def plain_app(procrastinate_db):
    """Not the fixture: an app of the user's own, opened synchronously."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=procrastinate_db))
    with app.open():
        yield app


def test_run_deferred_jobs_with_a_sync_connector(plain_app):
    @plain_app.task(name="double")
    def double(x):
        return 2 * x

    double.defer(x=21)
    (outcome,) = testing.run_deferred_jobs(plain_app)
    assert outcome.result == 42
    # The app's own connector is back, still open.
    assert plain_app.job_manager.get_job_status(outcome.id) is jobs.Status.SUCCEEDED
