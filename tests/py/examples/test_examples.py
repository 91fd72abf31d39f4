"""The examples of examples/ pass their own tests, run as their users would
run them (``pytest`` in the example's folder, with its own configuration and
the procrastinate.testing plugin), against the test server."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples"

# Each example's tests run in a nested pytest process.
pytestmark = pytest.mark.subprocess


@pytest.mark.parametrize(
    "example", sorted(path.name for path in EXAMPLES.iterdir() if (path / "tests").is_dir())
)
def test_example(example):
    folder = EXAMPLES / example
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=folder,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout
