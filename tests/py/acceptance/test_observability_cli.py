"""The worker command's observability options, run for real: ``--log-format
json`` writes one JSON object per line (job id, task, queue, status,
duration, message), and ``--metrics-port`` serves Prometheus metrics."""

from __future__ import annotations

import json
import logging
import signal
import time

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from procrastinate import json_logs

from acceptance_helpers import wait_until


def json_lines(output: str) -> list[dict]:
    """Every line of ``output``, each a JSON object (fails on any other line)."""
    lines = []
    for line in output.splitlines():
        parsed = json.loads(line)
        assert isinstance(parsed, dict), line
        lines.append(parsed)
    return lines


def statuses(db: psycopg.Connection) -> list[str]:
    rows = db.execute("select status::text as status from procrastinate_jobs order by id")
    return [row["status"] for row in rows.fetchall()]


def test_json_logs_and_metrics_of_a_cli_worker(run_cli, background, db):
    assert run_cli("defer", "sum_task", '{"a": 3, "b": 5}').returncode == 0
    assert run_cli("defer", "flaky").returncode == 0  # fails twice, then succeeds

    worker = background(
        "--log-format", "json", "worker", "--metrics-port", "0", "--metrics-host", "127.0.0.1",
        "--fetch-job-polling-interval", "0.1",
    )
    wait_until(lambda: '"serve_metrics"' in worker.output, what="the metrics server")
    wait_until(lambda: statuses(db) == ["succeeded", "succeeded"], what="the jobs to end")

    (serving,) = [line for line in json_lines(worker.output) if line.get("action") ==
                  "serve_metrics"]
    url = f"http://127.0.0.1:{serving['metrics_port']}/metrics"
    families = {f.name: f for f in text_string_to_metric_families(httpx.get(url).text)}
    finished = {
        (s.labels["task"], s.labels["status"]): s.value
        for s in families["procrastinate_jobs_finished"].samples if s.name.endswith("_total")
    }
    assert finished == {
        ("sum_task", "succeeded"): 1, ("flaky", "retried"): 2, ("flaky", "succeeded"): 1
    }

    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    lines = json_lines(worker.output)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert lines[0]["message"] == "Launching a worker on all queues"

    (success,) = [line for line in lines if line.get("action") == "job_success"
                  and line["task"] == "sum_task"]
    assert success["job_id"] == 1
    assert success["queue"] == "default"
    assert success["status"] == "succeeded"
    assert isinstance(success["duration"], float) and 0 <= success["duration"] < 30
    assert success["message"].startswith("Job sum_task[1](a=3, b=5) ended with status: Success")
    assert success["level"] == "INFO"
    assert success["result"] == 8

    retries = [line for line in lines if line.get("action") == "job_error_retry"]
    assert [(line["job_id"], line["task"], line["status"]) for line in retries] == [
        (2, "flaky", "todo"), (2, "flaky", "todo")
    ]
    assert all("ValueError: failing on attempt" in line["exception"] for line in retries)
    (start,) = [line for line in lines if line.get("action") == "start_job"
                and line["task"] == "sum_task"]
    assert start["status"] == "doing" and "duration" not in start
    assert any(line.get("action") == "stop_worker" for line in lines)


def test_json_formatter_keeps_values_json_cannot_hold():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    record.result = {(1, 2): "tuple key"}
    record.created = time.time()
    line = json.loads(json_logs.JsonFormatter().format(record))
    assert line["message"] == "hello you"
    assert line["result"] == repr({(1, 2): "tuple key"})
