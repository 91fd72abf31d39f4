"""The quickstart we were handed, run verbatim: first the program (schema
install and one defer, on an empty database), then the worker command."""

from __future__ import annotations

import os
import pathlib
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

# Each test runs Python programs (the quickstart, its worker) as processes.
pytestmark = pytest.mark.subprocess

PYTHON_DIR = pathlib.Path(__file__).resolve().parents[2] / "python"

QUICKSTART = """import random
import time
import os

from procrastinate import App, PsycopgConnector

POSTGRES_DSN = os.environ.get('POSTGRES_DSN', 'postgresql://postgres:password@localhost:5432/postgres')

app = App(
    connector=PsycopgConnector(
        dsn=POSTGRES_DSN
    )
)

@app.task(name="sum_task")
def sum_task(a, b):
    time.sleep(random.random() * 0.5) # Simulate work
    result = a + b
    print(f"Task sum_task({a}, {b}) finished with result: {result}")
    return result

async def main():
    print("Applying schema...")
    await app.open_async()
    await app.get_connector().check()
    await app.get_connector().execute_query_one("SELECT 1 FROM procrastinate_jobs LIMIT 1")
    print("Schema applied and checked.")

    print("Deferring a job...")
    job = await sum_task.defer_async(a=3, b=5)
    print(f"Job deferred with ID: {job.id}")
    await app.close_async()

if __name__ == "__main__":
    import asyncio
    asyncio.run(main())
"""


@pytest.fixture
def quickstart(tmp_path, empty_db_dsn):
    (tmp_path / "my_tasks.py").write_text(QUICKSTART)
    pythonpath = os.pathsep.join(
        [str(tmp_path), str(PYTHON_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env = {
        **os.environ,
        "POSTGRES_DSN": empty_db_dsn,
        "PYTHONPATH": pythonpath,
        "PYTHONUNBUFFERED": "1",
    }
    return tmp_path, env


def run_program(directory, env):
    return subprocess.run(
        [sys.executable, "my_tasks.py"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_quickstart_program(quickstart):
    directory, env = quickstart
    result = run_program(directory, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Applying schema...",
        "Schema applied and checked.",
        "Deferring a job...",
        "Job deferred with ID: 1",
    ]
    again = run_program(
        directory, env
    )  # schema already there: checked, not reinstalled
    assert again.returncode == 0, again.stderr
    assert "Job deferred with ID: 2" in again.stdout


def find_cli():
    here = os.path.dirname(sys.executable)
    return shutil.which(
        "procrastinate", path=os.pathsep.join([here, os.environ.get("PATH", "")])
    )


def test_quickstart_worker(quickstart):
    directory, env = quickstart
    assert run_program(directory, env).returncode == 0
    cli = find_cli()
    if cli is None:
        pytest.fail("the procrastinate command is not installed (pip install -e .)")
    expected = "Task sum_task(3, 5) finished with result: 8"
    worker = subprocess.Popen(
        [cli, "--app=my_tasks.app", "worker"],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in worker.stdout], daemon=True
    ).start()
    seen, found, deadline = [], False, time.monotonic() + 30
    try:
        while not found and time.monotonic() < deadline and worker.poll() is None:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            seen.append(line)
            found = expected in line
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    assert found, "".join(seen)
    assert worker.returncode is not None
