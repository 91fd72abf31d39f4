"""procrastinate.testing.InMemoryConnector used as procrastinate's "testing"
how-to shows it (a fixture replacing the app's connector, defer, look at
``app.connector.jobs``, ``app.run_worker(wait=False)``, ``reset()``), written
from its description. Our InMemoryConnector keeps the name and attributes,
on a real throwaway database."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from procrastinate import testing, testing_server

import my_tasks
from my_tasks import my_app, my_async_task, my_task, task_side_effect


@pytest.fixture
def app():
    my_tasks.EFFECTS.clear()
    in_memory = testing.InMemoryConnector()
    # the app's connector is replaced for the test; the fixture gives it back
    with my_app.replace_connector(in_memory) as app:
        yield app


def test_my_task(app):
    my_task.defer(word="done")

    jobs = app.connector.jobs
    assert len(jobs) == 1
    (job,) = jobs.values()
    assert (job["task_name"], job["args"], job["status"]) == (
        "my_tasks.my_task", {"word": "done"}, "todo"
    )

    app.run_worker(wait=False)
    assert task_side_effect() == "done"
    assert [j["status"] for j in app.connector.finished_jobs] == ["succeeded"]
    assert [e["type"] for e in app.connector.events[job["id"]]] == [
        "deferred", "started", "succeeded"
    ]

    app.connector.reset()
    assert app.connector.jobs == {}
    assert my_task.defer(word="again") == 1  # ids start again


def test_the_database_is_the_tests_own(app):
    assert app.connector.jobs == {}
    my_async_task.defer(word="a")
    my_async_task.defer(word="b")
    assert app.connector.current_locks == set()
    app.run_worker(wait=False, concurrency=2)
    assert task_side_effect() == "A B"  # one lock: one after the other, in order


async def test_from_async_code(app):
    await my_async_task.defer_async(word="x")
    assert [job["status"] for job in app.connector.jobs.values()] == ["todo"]
    await app.run_worker_async(wait=False)
    assert task_side_effect() == "X"
    await app.connector.close_async()


def test_no_postgresql_names_what_to_install():
    with pytest.raises(testing_server.NoPostgreSQL, match="apt install postgresql"):
        testing_server.bindir(candidates=[])


@pytest.mark.subprocess
def test_without_a_server_in_the_environment_it_starts_its_own(tmp_path):
    """No PG* variable: InMemoryConnector starts a private server for the
    process (initdb in a temporary folder), which is gone after it exits."""
    script = tmp_path / "uses_in_memory.py"
    script.write_text(textwrap.dedent('''
        import glob
        from procrastinate import App, testing

        app = App(connector=testing.InMemoryConnector())

        @app.task
        def add(a, b):
            print("sum", a + b)

        print("dsn", app.connector.dsn)
        add.defer(a=1, b=2)
        app.run_worker(wait=False)
        print("statuses", [job["status"] for job in app.connector.jobs.values()])
    '''))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "sum 3" in lines
    assert "statuses ['succeeded']" in lines
    dsn = next(line for line in lines if line.startswith("dsn "))
    folder = dsn.split("host=")[1].split()[0]
    assert "procrastinate-testing-pg-" in folder
    assert not os.path.exists(folder)  # stopped and removed at exit
