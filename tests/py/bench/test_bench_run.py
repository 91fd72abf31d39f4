"""bench/run.py's bookkeeping for the peers of issue 16 (no server needed):
spans reported by worker processes (graphile-worker keeps no row of a job
that succeeded), what --quick leaves out, and the table's columns and rows."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

RUN_PY = pathlib.Path(__file__).resolve().parents[3] / "bench" / "run.py"


@pytest.fixture(scope="module")
def run():
    spec = importlib.util.spec_from_file_location("bench_run", RUN_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["bench_run"]


def test_reported_spans_of_several_processes_are_merged(run):
    system = run.System("graphile_batched", "graphile batched", "graphile_peer.mjs", "node")
    span = run.worker_span(
        system,
        "db",
        0.0,
        [
            {"rss_kb": 1, "span": {"first_start": 10.5, "last_finish": 12.0, "finished": 300}},
            {"rss_kb": 1, "span": {"first_start": 10.0, "last_finish": 13.0, "finished": 200}},
            # a process that ran nothing
            {"rss_kb": 1, "span": {"first_start": None, "last_finish": None, "finished": 0}},
        ],
    )
    assert span == {"first_start": 10.0, "last_finish": 13.0, "finished": 500}


def test_graphile_has_every_scale_shape_and_the_new_rows(run):
    for shape, systems in run.SCALE_SYSTEMS.items():
        assert {"graphile_batched", "graphile_defaults"} <= set(systems), shape
    keys = {row.key for row in run.rows(run.QUICK)}
    new = {"procs2", "procs4", "drained_table", "drained_index", "drained_dead", "retention"}
    assert new <= keys
    # graphile-worker deletes a job when it ends: nothing to retain
    retention = next(r for r in run.rows(run.QUICK) if r.key == "retention")
    assert "graphile_batched" not in retention.systems


def test_the_table_has_columns_of_the_systems_run_and_rows_of_the_plan_only(run):
    systems = [
        run.System("ours", "ours", "ours.py", "python"),
        run.System("graphile_batched", "graphile batched", "graphile_peer.mjs", "node"),
    ]
    values = {"worker_c10": {"ours": 5000.0, "graphile_batched": 10000.0}}
    text = run.table(run.QUICK, systems, values, {"worker_c10"})
    header, _, *body = text.splitlines()
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "measure", "unit", "ours", "graphile batched", "ours/graphile batched",
    ]
    assert len(body) == 1
    assert [c.strip() for c in body[0].strip("|").split("|")][2:] == ["5,000", "10,000", "0.50x"]
