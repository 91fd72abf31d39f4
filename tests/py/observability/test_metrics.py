"""Prometheus metrics (procrastinate.metrics): a worker run with
``metrics_port`` serves /metrics over HTTP, and the dashboard serves the
queue gauges at /metrics. Scraped for real while a worker runs: the
counters move, and every family follows Prometheus' naming conventions
(checked with the client's own parser; Debian's prometheus package, which
holds promtool, weighs 96 MB installed and starts a server: not added)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

import procrastinate
from procrastinate import dashboard
from procrastinate import metrics as metrics_module

from polling import poll

# Prometheus' rules (https://prometheus.io/docs/practices/naming/), as
# promtool check metrics applies them.
NAME = re.compile(r"^procrastinate_[a-z][a-z0-9_]*$")
LABEL = re.compile(r"^[a-z][a-z0-9_]*$")
#: Unit suffixes in base units only (seconds, never milliseconds...).
NON_BASE_UNITS = re.compile(r"_(milli|micro|nano)?(seconds?|ms|minutes|hours|days|bytes)_?")


def parse(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def check_conventions(text: str) -> None:
    """Every family of ``text`` follows the conventions."""
    for line in text.splitlines():
        if line.startswith("# TYPE ") and line.split()[3] == "counter":
            # the text format names a counter with its _total suffix
            assert line.split()[2].endswith("_total"), line
    families = parse(text)
    assert families
    for name, family in families.items():
        assert NAME.match(name), name
        assert family.documentation.strip(), f"{name} has no HELP"
        assert family.type in ("counter", "gauge", "histogram"), (name, family.type)
        if family.type != "counter":
            assert not name.endswith("_total"), name
        units = NON_BASE_UNITS.findall(name)
        assert all(unit == ("", "seconds") for unit in units), (name, units)
        if family.type == "histogram" or name.endswith(("_seconds", "_age_seconds")):
            assert name.endswith("_seconds"), name
        for sample in family.samples:
            assert all(LABEL.match(label) for label in sample.labels if label != "le"), sample
            if family.type == "counter":
                assert sample.name in (f"{name}_total", f"{name}_created"), sample.name
            if family.type == "histogram":
                assert sample.name.removeprefix(name) in ("_bucket", "_sum", "_count", "_created")
        if family.type == "histogram":
            check_buckets(family.samples)


def check_buckets(samples: list[Sample]) -> None:
    """Cumulative buckets ending with +Inf equal to the count, per series."""
    series: dict[tuple, list[Sample]] = {}
    counts: dict[tuple, float] = {}
    for sample in samples:
        key = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
        if sample.name.endswith("_bucket"):
            series.setdefault(key, []).append(sample)
        elif sample.name.endswith("_count"):
            counts[key] = sample.value
    for key, buckets in series.items():
        values = [bucket.value for bucket in buckets]
        assert values == sorted(values), key
        assert buckets[-1].labels["le"] == "+Inf"
        assert buckets[-1].value == counts[key]


def value(families: dict[str, Any], name: str, sample_name: str | None = None, **labels: str):
    """The value of the one sample of ``name`` with these labels (0 if none)."""
    family = families.get(name)
    if family is None:
        return 0.0
    wanted = sample_name or (f"{name}_total" if family.type == "counter" else name)
    found = [
        s.value for s in family.samples
        if s.name == wanted and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    return sum(found)


def make_tasks(app: procrastinate.App) -> None:
    @app.task(name="ok", queue="work")
    async def ok(seconds: float = 0.0) -> None:
        await asyncio.sleep(seconds)

    @app.task(name="boom", queue="work")
    def boom() -> None:
        raise ValueError("boom")

    @app.task(name="flaky", queue="work", retry=1)
    def flaky() -> None:
        raise ValueError("fails, then is retried once")


async def test_worker_serves_metrics_that_move_while_it_runs(app: procrastinate.App):
    make_tasks(app)
    # jobs of a queue the worker does not serve: only the database's gauges see them
    for _ in range(3):
        await app.configure_task("ok", queue="elsewhere").defer_async()
    worker = app._worker(
        queues=["work"], metrics_port=0, metrics_host="127.0.0.1", install_signal_handlers=False,
        update_heartbeat_interval=0.2, fetch_job_polling_interval=0.1, wait=True,
    )
    running = asyncio.create_task(worker.run())
    try:
        assert worker.metrics is not None
        await poll(lambda: worker.metrics.port, "the metrics server")
        url = f"http://127.0.0.1:{worker.metrics.port}/metrics"
        async with httpx.AsyncClient() as client:

            async def scrape() -> dict[str, Any]:
                response = await client.get(url)
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/plain")
                check_conventions(response.text)
                return parse(response.text)

            before = await scrape()
            assert value(before, "procrastinate_jobs_started", queue="work") == 0
            assert value(before, "procrastinate_queue_stats_up") == 1
            assert value(
                before, "procrastinate_queue_jobs", queue="elsewhere", state="runnable"
            ) == 3
            assert value(before, "procrastinate_queue_oldest_job_age_seconds",
                         queue="elsewhere") > 0
            assert value(before, "procrastinate_worker_concurrency") == 1

            for _ in range(5):
                await app.configure_task("ok").defer_async(seconds=0.01)
            await app.configure_task("boom").defer_async()
            await app.configure_task("flaky").defer_async()

            async def settled() -> dict[str, Any] | None:
                families = await scrape()
                done = value(families, "procrastinate_jobs_finished", queue="work")
                return families if done == 8 else None  # 5 ok, boom, flaky twice

            after = None
            for _ in range(300):
                if after := await settled():
                    break
                await asyncio.sleep(0.1)
            assert after, "the counters did not reach the jobs run"

            assert value(after, "procrastinate_jobs_started", queue="work", task="ok") == 5
            assert value(after, "procrastinate_jobs_started", queue="work") == 8
            finished = "procrastinate_jobs_finished"
            assert value(after, finished, task="ok", status="succeeded") == 5
            assert value(after, finished, task="boom", status="failed") == 1
            assert value(after, finished, task="flaky", status="retried") == 1
            assert value(after, finished, task="flaky", status="failed") == 1
            duration = "procrastinate_job_duration_seconds"
            assert value(after, duration, f"{duration}_count", task="ok") == 5
            # each ok job slept 10 ms
            assert value(after, duration, f"{duration}_sum", task="ok") >= 0.05
            lag = "procrastinate_job_lag_seconds"
            assert value(after, lag, f"{lag}_count", queue="work") == 8
            assert value(after, lag, f"{lag}_sum", queue="work") >= 0

            # the heartbeat thread beats every 0.2 s
            beats = value(after, "procrastinate_worker_heartbeats")
            for _ in range(100):
                latest = await scrape()
                if value(latest, "procrastinate_worker_heartbeats") > beats:
                    break
                await asyncio.sleep(0.1)
            assert value(latest, "procrastinate_worker_heartbeats") > beats
            assert value(latest, "procrastinate_worker_last_heartbeat_timestamp_seconds") > 0
            # nothing failed to report; no outage
            assert value(after, "procrastinate_worker_reports_retried") == 0
            assert value(after, "procrastinate_worker_database_reconnects") == 0
    finally:
        worker.stop()
        await running
    # the server is closed with the worker
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)


async def test_queue_gauges_are_cached_for_a_few_seconds(app: procrastinate.App, monkeypatch):
    """One read of the database serves the scrapes of the next ttl seconds."""
    await app.configure_task("t", queue="q").defer_async()
    stats = metrics_module.QueueStats(app.connector, ttl=60)
    calls = 0
    execute = app.connector.execute_query_all_async

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await execute(*args, **kwargs)

    monkeypatch.setattr(app.connector, "execute_query_all_async", counting)
    for _ in range(5):
        await stats.refresh()
    assert calls == 1
    (jobs, *_rest, up) = list(stats.collect())
    assert [(s.labels, s.value) for s in jobs.samples if s.value] == [
        ({"queue": "q", "state": "runnable"}, 1.0)
    ]
    assert up.samples[0].value == 1.0


async def test_queue_gauges_say_when_the_database_refuses(app: procrastinate.App, monkeypatch):
    stats = metrics_module.QueueStats(app.connector, ttl=0)
    await stats.refresh()

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise procrastinate.exceptions.ConnectorException("permission denied")

    monkeypatch.setattr(app.connector, "execute_query_all_async", refuse)
    await stats.refresh()
    families = list(stats.collect())
    assert families[-1].samples[0].value == 0.0
    assert all(not family.samples for family in families[:-1])


async def test_dashboard_serves_queue_gauges(app: procrastinate.App, monkeypatch):
    monkeypatch.setattr(metrics_module, "QUEUE_STATS_TTL", 0.0)
    make_tasks(app)
    for _ in range(4):
        await app.configure_task("ok").defer_async()
    transport = httpx.ASGITransport(app=dashboard.app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as client:

        async def scrape() -> dict[str, Any]:
            response = await client.get("/metrics")
            assert response.status_code == 200
            check_conventions(response.text)
            return parse(response.text)

        before = await scrape()
        assert value(before, "procrastinate_queue_jobs", queue="work", state="runnable") == 4
        assert value(before, "procrastinate_queue_stats_up") == 1
        await app.run_worker_async(wait=False, install_signal_handlers=False)
        after = await scrape()
        assert value(after, "procrastinate_queue_jobs", queue="work") == 0
        # a queue whose jobs all ended has no row in the backlog
        assert value(after, "procrastinate_queue_oldest_job_age_seconds", queue="work") == 0
