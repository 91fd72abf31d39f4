"""Fixtures of the acceptance tests: the ``procrastinate`` command run as a
subprocess against a fresh database (fixtures of tests/py/conftest.py)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import psycopg
import pytest

HERE = pathlib.Path(__file__).resolve().parent
PYTHON_DIR = HERE.parents[2] / "python"

RUNS_TABLE = """
create table acceptance_runs (
    id bigserial primary key,
    job_id bigint not null,
    task text not null,
    tag text,
    attempt integer,
    pid integer,
    started_at timestamptz not null,
    ended_at timestamptz
)
"""


@pytest.fixture
def runs_table(db: psycopg.Connection) -> None:
    db.execute(RUNS_TABLE)


@pytest.fixture
def cli_env(db_name: str, runs_table: None) -> dict[str, str]:
    """Environment of the subprocesses: the test database through libpq's
    variables, the acceptance app, and no PROCRASTINATE_* leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCRASTINATE_")}
    env["PGDATABASE"] = db_name
    env["PROCRASTINATE_APP"] = "acceptance_app.app"
    paths = [str(HERE), str(PYTHON_DIR), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def command() -> list[str]:
    return [sys.executable, "-m", "procrastinate"]


@pytest.fixture
def run_cli(cli_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``procrastinate ARGS`` to completion (60 s at most)."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command(), *args], env={**cli_env, **(env or {})}, input=input,
            capture_output=True, text=True, timeout=timeout,
        )

    return run


class Background:
    """A ``procrastinate`` process running in the background."""

    def __init__(self, args: list[str], env: dict[str, str], log: pathlib.Path):
        self.log_path = log
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [*command(), *args], env=env, stdout=self._log, stderr=subprocess.STDOUT,
            text=True,
        )

    @property
    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self._log.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


@pytest.fixture
def background(
    cli_env: dict[str, str], tmp_path: pathlib.Path
) -> Iterator[Callable[..., Background]]:
    """Start ``procrastinate ARGS`` in the background; killed at the end."""
    started: list[Background] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Background:
        process = Background(
            list(args), {**cli_env, **(env or {})}, tmp_path / f"process{len(started)}.log"
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
