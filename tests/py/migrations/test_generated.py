"""The generated files are up to date, a fresh install equals a migrated
database (and a converted 3.x one), and squawk finds nothing to flag."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
TOOL = ROOT / "scripts" / "migrations.py"


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.subprocess
def test_check_passes():
    result = run_tool("check")
    assert result.returncode == 0, result.stderr


def test_generated_files_are_up_to_date(tool):
    baseline = tool.BASELINE_FILE.read_text()
    assert tool.RECORDS_FILE.read_text() == tool.records_text()
    # The 3.x conversion creates what 0001 creates; later migrations follow it.
    assert tool.UPSTREAM_CODE_FILE.read_text() == tool.upstream_code_text(baseline)
    if not tool.released():
        assert baseline == tool.baseline_text()


def test_a_released_baseline_stays_frozen(tool):
    """Once 0002 exists, 0001 is what users installed: sql/ moves on through
    new migrations, and `compare` proves they add up to sql/."""
    from procrastinate._db import files

    later = [m for m in files.discover() if m.number > 1]
    if later:
        assert f"migration {later[0].number:04d} exists" in (tool.released() or "")


def test_records_cover_every_migration(tool):
    from procrastinate._db import files

    text = tool.RECORDS_FILE.read_text()
    for m in files.discover():
        assert f"\n    {m.number},\n    '{m.name}',\n    '{m.phase}',\n    '{m.checksum}'\n" in text


def test_upstream_code_step_leaves_out_what_3x_has(tool):
    text = tool.UPSTREAM_CODE_FILE.read_text()
    assert "create type" not in text
    assert "create table procrastinate_jobs" not in text
    assert "create table procrastinate_paused_queues" in text
    assert "create function procrastinate_fetch_jobs_v1" in text
    assert "create view procrastinate_queue_stats" in text


def test_fresh_install_equals_migrations_and_converted_3x(upstream_venv):
    """The equality `make test` relies on: sql/ == migrations == 3.10 converted."""
    result = run_tool("compare")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("identical schema and records") == 2


@pytest.mark.subprocess
def test_squawk_finds_nothing():
    squawk = shutil.which("squawk", path=str(pathlib.Path(sys.executable).parent)) or shutil.which(
        "squawk"
    )
    if squawk is None:
        pytest.fail("squawk is missing: pip install squawk-cli (dev extras)")
    result = run_tool("lint")
    assert result.returncode == 0, result.stdout + result.stderr
