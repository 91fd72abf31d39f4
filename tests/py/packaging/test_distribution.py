"""The package is a distribution of its own (procrastinate-sqlcore), told
apart from procrastinate's, and refuses to run where both are installed."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

import procrastinate
from procrastinate import _identity

ROOT = pathlib.Path(__file__).resolve().parents[3]
UPSTREAM = "procrastinate==3.10.0"


def run(*command: str | pathlib.Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    # Without PYTHONPATH: the venvs below must see only what is installed in them.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, env=env, check=check,
        timeout=600,
    )


def test_version_names_the_distribution_and_the_api_level():
    assert procrastinate.__version__ == _identity.version() != "0.0.0+unknown"
    assert procrastinate.API_LEVEL == "3.10"
    assert _identity.overlap() is None


@pytest.mark.subprocess
def test_cli_version_says_which_procrastinate_runs():
    result = run(sys.executable, "-m", "procrastinate", "--version")
    assert result.stdout.strip() == (
        f"procrastinate-sqlcore {procrastinate.__version__} "
        "(SQL-core edition, procrastinate 3.10 API)"
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, ROOT)
    (built,) = out.glob("procrastinate_sqlcore-*.whl")
    return built


@pytest.mark.upstream
@pytest.mark.subprocess
def test_installed_over_procrastinate_it_says_so_and_refuses_to_run(tmp_path, wheel):
    venv = tmp_path / "venv"
    run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", venv)
    pip, cli = venv / "bin" / "pip", venv / "bin" / "procrastinate"
    run(pip, "install", "-q", UPSTREAM)
    assert run(cli, "--version").stdout.strip() == "procrastinate, version 3.10.0"

    run(pip, "install", "-q", wheel)
    version = run(cli, "--version").stdout
    assert version.startswith(f"procrastinate-sqlcore {procrastinate.__version__} (")
    assert "procrastinate 3.10.0 (upstream's distribution) is installed" in version
    refused = run(cli, "worker", check=False)
    assert refused.returncode == 2
    assert "pip uninstall procrastinate procrastinate-sqlcore" in " ".join(refused.stderr.split())

    # What the message says to do gives a working environment.
    run(pip, "uninstall", "-q", "-y", "procrastinate", "procrastinate-sqlcore")
    run(pip, "install", "-q", wheel)
    version = run(cli, "--version").stdout.strip()
    assert version == (
        f"procrastinate-sqlcore {procrastinate.__version__} "
        "(SQL-core edition, procrastinate 3.10 API)"
    )
    # The wheel carries the SQL and the licence.
    python = venv / "bin" / "python"
    files = run(
        python, "-c",
        "import importlib.metadata as m; d = m.distribution('procrastinate-sqlcore');"
        "print(d.metadata['License-File'] or d.metadata['License'] or '');"
        "print(sum(1 for f in d.files if str(f).endswith('.sql')))",
    ).stdout.split()
    assert files[0] == "LICENSE"
    assert int(files[1]) > 20


@pytest.mark.subprocess
def test_psycopgs_flavour_is_the_users_choice(wheel):
    """psycopg without a flavour is required; binary and c are extras."""
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()
    requires = [
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    assert "psycopg>=3.2" in requires
    assert 'psycopg[binary]>=3.2; extra == "binary"' in requires
    assert 'psycopg[c]>=3.2; extra == "c"' in requires
    assert not any(r.startswith("psycopg[") and "extra ==" not in r for r in requires), requires


@pytest.mark.subprocess
def test_the_wheel_ships_the_dashboard_and_its_vendored_chart_library(wheel):
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for path in [
        "procrastinate/dashboard/templates/periodic.html",
        "procrastinate/dashboard/static/charts.js",
        "procrastinate/dashboard/static/vendor/uplot/uPlot.iife.min.js",
        "procrastinate/dashboard/static/vendor/uplot/uPlot.min.css",
        "procrastinate/dashboard/static/vendor/uplot/LICENSE",
    ]:
        assert path in names, path
