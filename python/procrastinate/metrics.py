"""Prometheus metrics (the ``metrics`` extra: prometheus-client).

Two sources, two classes:

- ``WorkerMetrics``: what a worker counts in its own process (jobs started
  and finished, run times, the wait between defer and start, heartbeats,
  reconnects, reports sent again). Each count is an increment in memory,
  never a query; the worker calls it from one place per event.
- ``QueueStats``: what the database says of every queue (jobs waiting,
  running, scheduled, the age of the oldest waiting job, paused), one read
  of the ops view procrastinate_queue_backlog, made when scraped and kept
  ``ttl`` seconds (a few scrapes a minute cost one cheap query each).

A worker serves both (``procrastinate worker --metrics-port N``); the
dashboard serves ``QueueStats`` at ``/metrics``. Every name starts with
``procrastinate_``; docs/observability.md lists them.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from procrastinate._db import queries

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from procrastinate import connector as connector_module
    from procrastinate.worker.executor import JobRun
    from procrastinate.worker.state import WorkerState

logger = logging.getLogger(__name__)

#: Seconds a read of the queues is served before the next scrape reads again.
QUEUE_STATS_TTL = 5.0
#: Seconds a scrape of a worker waits for that read (then serves what it has).
QUEUE_STATS_TIMEOUT = 5.0
#: Run times: from milliseconds (no-op jobs) to an hour.
DURATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600,
)
#: Waits between defer (or scheduled time) and start: up to a few hours behind.
LAG_BUCKETS = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400,
)


class QueueStats(Collector):
    """Gauges per queue, from procrastinate_queue_backlog (it reads the
    waiting and running jobs through the claim's partial indexes, never
    the finished ones). ``refresh()`` reads unless the last read is younger
    than ``ttl``; ``collect()`` serves the last read."""

    def __init__(
        self, connector: connector_module.BaseConnector, ttl: float | None = None
    ):
        self.connector = connector
        self.ttl = QUEUE_STATS_TTL if ttl is None else ttl
        self._rows: list[dict[str, Any]] = []
        self._read_at: float | None = None
        #: Whether the last read worked (None: none made yet).
        self._up: bool | None = None

    async def refresh(self) -> None:
        now = time.monotonic()
        if self._read_at is not None and now - self._read_at < self.ttl:
            return
        # Set first: scrapes arriving during the read serve the last one.
        self._read_at = now
        try:
            rows = await self.connector.execute_query_all_async(queries.QUEUE_BACKLOG)
        except Exception as exc:  # noqa: BLE001 - a failed read: the gauges say so
            if self._up is not False:
                logger.warning(
                    f"Could not read the queues for the metrics: {exc!r} "
                    "(procrastinate_queue_stats_up is 0 until a read works)",
                    extra={"action": "metrics_queue_stats_error", "exception": repr(exc)},
                )
            # No stale depth passed off as current: the queue gauges go away.
            self._rows, self._up = [], False
            return
        self._rows, self._up = rows, True

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily(
            "procrastinate_queue_jobs",
            "Jobs of each queue by state: runnable (waiting, due now), scheduled (waiting "
            "for a later time or for the jobs it was deferred after) and doing (running)",
            labels=["queue", "state"],
        )
        oldest = GaugeMetricFamily(
            "procrastinate_queue_oldest_job_age_seconds",
            "Age of the oldest runnable waiting job of each queue, since it was deferred or "
            "scheduled (0 when none waits): how far behind the queue is",
            labels=["queue"],
        )
        paused = GaugeMetricFamily(
            "procrastinate_queue_paused", "1 while the queue is paused, else 0", labels=["queue"]
        )
        for row in self._rows:
            queue = row["queue_name"]
            for state in ("runnable", "scheduled", "doing"):
                jobs.add_metric([queue, state], float(row[state]))
            oldest.add_metric([queue], float(row["oldest_waiting_seconds"] or 0.0))
            paused.add_metric([queue], 1.0 if row["paused"] else 0.0)
        yield jobs
        yield oldest
        yield paused
        yield GaugeMetricFamily(
            "procrastinate_queue_stats_up",
            "1 if the last read of the queues from the database worked, else 0",
            value=1.0 if self._up else 0.0,
        )


class _RefreshedInLoop(Collector):
    """QueueStats for a server thread (the worker's): each collect first
    has the event loop refresh the read, waiting QUEUE_STATS_TIMEOUT at
    most (a busy loop: the last read is served)."""

    def __init__(self, stats: QueueStats, loop: asyncio.AbstractEventLoop):
        self.stats = stats
        self.loop = loop

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            future = asyncio.run_coroutine_threadsafe(self.stats.refresh(), self.loop)
            future.result(QUEUE_STATS_TIMEOUT)
        except Exception:  # noqa: BLE001 - the loop is gone or busy: the last read
            pass
        return self.stats.collect()


class _JobCounts(Collector):
    """The per-job metrics, kept as plain numbers by the event loop (a job
    costs a dict lookup, a bisect and a few increments: no lock, no
    prometheus-client object) and turned into metric families when
    scraped."""

    def __init__(self) -> None:
        #: (queue, task) -> [started, lag bucket counts..., lag sum]
        self.started: dict[tuple[str, str], list[float]] = {}
        #: (queue, task, status) -> [finished, duration bucket counts..., duration sum]
        self.finished: dict[tuple[str, str, str], list[float]] = {}

    def job_started(self, queue: str, task: str, waited: float | None) -> None:
        key = (queue, task)
        row = self.started.get(key)
        if row is None:
            row = self.started[key] = [0.0] * (len(LAG_BUCKETS) + 3)
        row[0] += 1
        if waited is not None:
            waited = max(waited, 0.0)
            row[1 + bisect.bisect_left(LAG_BUCKETS, waited)] += 1
            row[-1] += waited

    def job_finished(self, queue: str, task: str, status: str, duration: float | None) -> None:
        key = (queue, task, status)
        row = self.finished.get(key)
        if row is None:
            row = self.finished[key] = [0.0] * (len(DURATION_BUCKETS) + 3)
        row[0] += 1
        if duration is not None:
            row[1 + bisect.bisect_left(DURATION_BUCKETS, duration)] += 1
            row[-1] += duration

    def collect(self) -> Iterator[Any]:
        # Copies made in one C call each: the event loop may add keys meanwhile.
        started = [(key, list(row)) for key, row in list(self.started.items())]
        finished = [(key, list(row)) for key, row in list(self.finished.items())]
        counter = CounterMetricFamily(
            "procrastinate_jobs_started", "Jobs this worker started, by queue and task",
            labels=["queue", "task"],
        )
        lag = HistogramMetricFamily(
            "procrastinate_job_lag_seconds",
            "Time between a job's defer (or its scheduled time, if later) and its start by "
            "this worker, on the database's clock, by queue and task",
            labels=["queue", "task"],
        )
        for key, row in started:
            counter.add_metric(list(key), row[0])
            lag.add_metric(list(key), _buckets(LAG_BUCKETS, row[1:-1]), sum_value=row[-1])
        yield counter
        yield lag
        counter = CounterMetricFamily(
            "procrastinate_jobs_finished",
            "Runs ended by this worker, by queue, task and what the database made of the "
            "outcome: succeeded, failed, aborted, retried (back in the queue for another "
            "attempt) or not_recorded (the job was taken back from this worker)",
            labels=["queue", "task", "status"],
        )
        duration = HistogramMetricFamily(
            "procrastinate_job_duration_seconds",
            "Run time of the jobs this worker ran, by queue, task and status",
            labels=["queue", "task", "status"],
        )
        for labels, row in finished:
            counter.add_metric(list(labels), row[0])
            duration.add_metric(
                list(labels), _buckets(DURATION_BUCKETS, row[1:-1]), sum_value=row[-1]
            )
        yield counter
        yield duration


def _buckets(bounds: tuple[float, ...], counts: list[float]) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs, +Inf last, from per-bucket counts."""
    cumulative, total = [], 0.0
    for bound, count in zip((*bounds, math.inf), counts, strict=True):
        total += count
        cumulative.append(("+Inf" if bound == math.inf else floatToGoString(bound), total))
    return cumulative


class WorkerMetrics:
    """The worker's in-process metrics, on a registry of their own (several
    workers in one process each serve theirs). The worker calls the
    methods below, one place per event; ``serve`` starts the HTTP server."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry = registry or CollectorRegistry()
        self._jobs = _JobCounts()
        registry.register(self._jobs)
        self.heartbeats = Counter(
            "procrastinate_worker_heartbeats", "Heartbeats this worker sent that renewed its "
            "lease", registry=registry,
        )
        self.last_heartbeat = Gauge(
            "procrastinate_worker_last_heartbeat_timestamp_seconds",
            "When this worker's last heartbeat renewed its lease (Unix time)", registry=registry,
        )
        self.reconnects = Counter(
            "procrastinate_worker_database_reconnects",
            "Database outages this worker saw end (calls failed, then one worked again)",
            registry=registry,
        )
        self.reports_retried = Counter(
            "procrastinate_worker_reports_retried",
            "Job outcomes whose report failed and was sent again", registry=registry,
        )
        self.running = Gauge(
            "procrastinate_worker_jobs_running", "Jobs this worker runs now", registry=registry
        )
        self.concurrency = Gauge(
            "procrastinate_worker_concurrency", "Jobs this worker runs at most at once",
            registry=registry,
        )
        self._server: WSGIServer | None = None
        self._queue_stats: _RefreshedInLoop | None = None
        #: The port served (the one chosen by the system when asked for 0).
        self.port: int | None = None

    # --- events (called by the worker, on its event loop) ------------------------------

    def job_started(self, run: JobRun) -> None:
        job = run.job
        self._jobs.job_started(job.queue, job.task_name, job.waited)

    def job_finished(self, run: JobRun, status: str) -> None:
        job, end = run.job, run.end_timestamp
        duration = None if end is None else end - run.context.start_timestamp
        self._jobs.job_finished(job.queue, job.task_name, status, duration)

    def heartbeat(self) -> None:
        self.heartbeats.inc()
        self.last_heartbeat.set(time.time())

    def reconnected(self) -> None:
        self.reconnects.inc()

    def reports_sent_again(self, count: int) -> None:
        self.reports_retried.inc(count)

    # --- serving -------------------------------------------------------------------------

    def serve(
        self,
        host: str,
        port: int,
        connector: connector_module.BaseConnector,
        state: Callable[[], WorkerState],
    ) -> None:
        """Serve /metrics on ``host:port`` from a thread (port 0: a free
        one, then in ``self.port``), the queue gauges read through
        ``connector`` on the running event loop. ``state``: the worker's
        current state (its running jobs and options)."""
        self.running.set_function(lambda: len(state().running))
        self.concurrency.set_function(lambda: state().options.concurrency)
        if self._queue_stats is None:
            self._queue_stats = _RefreshedInLoop(QueueStats(connector), asyncio.get_running_loop())
            self.registry.register(self._queue_stats)
        else:
            self._queue_stats.loop = asyncio.get_running_loop()
        self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        self.port = self._server.server_port

    async def close(self) -> None:
        """Stop serving (the counters are kept for the worker's next run)."""
        server, self._server = self._server, None
        if server is not None:
            # shutdown() waits for the serving loop's next poll (up to 0.5 s)
            await asyncio.to_thread(server.shutdown)
            server.server_close()
