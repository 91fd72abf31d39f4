"""Fixtures of the shell tests: ``procrastinate shell`` (and the ``defer`` and
``worker`` commands that make its data) run as subprocesses on a fresh
database."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections.abc import Callable

import pytest

HERE = pathlib.Path(__file__).resolve().parent
PYTHON_DIR = HERE.parents[2] / "python"


@pytest.fixture
def run_cli(db_name: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``procrastinate --app shell_app.app ARGS`` to completion."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCRASTINATE_")}
    env["PGDATABASE"] = db_name
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(PYTHON_DIR)])

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "procrastinate", "--app", "shell_app.app", *args],
            env=env, input=input, capture_output=True, text=True, timeout=60,
        )

    return run
