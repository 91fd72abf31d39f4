"""Users' code type-checks against the package (it ships py.typed): a file
using App, @app.task, defer, configure and JobContext passes mypy --strict
and pyright's strict mode, and wrong uses of a task (an argument of the
wrong type or name given to the function, to defer or to run_worker) are
caught by both (the types are not Any)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from collections.abc import Callable

import pytest

import npm_packages

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


WRONG_USES = (
    "\n\ndef wrong() -> str:\n"
    "    return send.defer(address='a', subject='b')\n"
    "\n\ndef called_wrong() -> None:\n"
    "    send(address=1, subject='b')\n"
    "\n\ndef deferred_wrong() -> None:\n"
    "    send.defer(address=1, subject='b')\n"
    "    send.defer(adress='a', subject='b')\n"
    "\n\nasync def deferred_wrong_async() -> None:\n"
    "    await notify.defer_async(user_id='1')\n"
    "\n\ndef worker_wrong() -> None:\n"
    "    app.run_worker(concurency=2)\n"
)


def wrong_file(tmp_path: pathlib.Path) -> pathlib.Path:
    wrong = tmp_path / "wrong.py"
    wrong.write_text((HERE / "user_code.py").read_text() + WRONG_USES)
    return wrong


def test_a_wrong_use_of_a_task_is_caught(tmp_path):
    result = mypy(wrong_file(tmp_path), tmp_path)
    assert result.returncode == 1, result.stdout
    found = result.stdout
    assert 'Incompatible return value type (got "JobId", expected "str")' in found
    assert 'Argument "address" to "__call__" of "Task" has incompatible type "int"' in found
    # defer takes the task's parameters (but the context of a pass_context task)
    assert 'Argument "address" to "defer" of "Task" has incompatible type "int"' in found
    assert 'Unexpected keyword argument "adress" for "defer" of "Task"' in found
    assert 'Argument "user_id" to "defer_async" of "Task" has incompatible type "str"' in found
    assert 'Unexpected keyword argument "concurency" for "run_worker" of "App"' in found


# --- pyright (from the npm registry: tests/py/typecheck/pyright/package.json) ---------


@pytest.fixture(scope="module")
def pyright(tmp_path_factory: pytest.TempPathFactory) -> Callable[[pathlib.Path], str]:
    """Runs pyright in strict mode on a file; returns its report."""
    npm_packages.installed(HERE / "pyright", "tests/py/typecheck (pyright)")
    executable = HERE / "pyright" / "node_modules" / ".bin" / "pyright"
    config = tmp_path_factory.mktemp("pyright") / "pyrightconfig.json"
    config.write_text(
        json.dumps({"typeCheckingMode": "strict", "extraPaths": [str(ROOT / "python")]})
    )

    def run(path: pathlib.Path) -> str:
        result = subprocess.run(
            [str(executable), "-p", str(config), "--pythonpath", sys.executable, str(path)],
            capture_output=True, text=True, cwd=ROOT, timeout=300,
        )
        return f"exit {result.returncode}\n{result.stdout}{result.stderr}"

    return run


def test_user_code_passes_pyright_strict(pyright):
    report = pyright(HERE / "user_code.py")
    assert report.startswith("exit 0\n"), report
    assert "0 errors" in report


def test_pyright_catches_the_wrong_uses_too(pyright, tmp_path):
    report = pyright(wrong_file(tmp_path))
    assert report.startswith("exit 1\n"), report
    for error in (
        '"JobId" is not assignable to return type "str"',
        'parameter "address" of type "str" in function "__call__"',
        'parameter "address" of type "str" in function "defer"',
        'No parameter named "adress"',
        'parameter "user_id" of type "int" in function "defer_async"',
        'No parameter named "concurency"',
    ):
        assert error in report, f"pyright did not report {error!r}:\n{report}"
