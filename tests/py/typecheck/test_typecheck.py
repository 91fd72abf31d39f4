"""Users' code type-checks against the package (it ships py.typed): a file
using App, @app.task, defer, configure and JobContext passes mypy --strict,
and a wrong use of a task is caught (the types are not Any)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parents[2]

pytestmark = pytest.mark.subprocess


def mypy(path: pathlib.Path, tmp_path: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "mypy", "--strict", "--no-incremental",
            "--cache-dir", str(tmp_path / "cache"), str(path),
        ],
        capture_output=True, text=True, cwd=ROOT,
    )


def test_package_ships_its_types():
    assert (ROOT / "python" / "procrastinate" / "py.typed").is_file()


def test_user_code_type_checks_under_strict(tmp_path):
    result = mypy(HERE / "user_code.py", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_use_of_a_task_is_caught(tmp_path):
    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        (HERE / "user_code.py").read_text()
        + "\n\ndef wrong() -> str:\n"
        "    return send.defer(address='a', subject='b')\n"
        "\n\ndef called_wrong() -> None:\n"
        "    send(address=1, subject='b')\n"
    )
    result = mypy(wrong, tmp_path)
    assert result.returncode == 1, result.stdout
    assert 'Incompatible return value type (got "JobId", expected "str")' in result.stdout
    assert 'Argument "address" to "__call__" of "Task" has incompatible type "int"' in result.stdout
