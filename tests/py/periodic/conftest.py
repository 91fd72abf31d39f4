"""Fixtures of the periodic tests: ``procrastinate worker`` processes on a
fresh database."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

HERE = pathlib.Path(__file__).resolve().parent
PYTHON_DIR = HERE.parents[2] / "python"


class WorkerProcess:
    """``procrastinate -v --app periodic_app.app worker ARGS``, its output
    (stdout and stderr) in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: pathlib.Path):
        self.log_path = log
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "procrastinate", "-v", "--app", "periodic_app.app",
             "worker", *args],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, text=True,
        )

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait for the exit (killed after ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.process.returncode


@pytest.fixture
def start_worker(
    db_name: str, tmp_path: pathlib.Path
) -> Iterator[Callable[..., WorkerProcess]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCRASTINATE_")}
    env["PGDATABASE"] = db_name
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(PYTHON_DIR)])
    env["PYTHONUNBUFFERED"] = "1"
    started: list[WorkerProcess] = []

    def start(*args: str) -> WorkerProcess:
        worker = WorkerProcess(list(args), env, tmp_path / f"worker{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(timeout=5)
