"""The benchmark written once against procrastinate 3.10's public API.

Ours keeps that API, so ours.py and procrastinate_upstream.py both use these
functions; they differ only in schema installation and in the SQL that reads
their tables (finished jobs, timings). Each runs in its own virtualenv, where
``import procrastinate`` finds that system's package.

Only public API is used: ``App(connector=PsycopgConnector(conninfo=...))``,
``@app.task``, ``defer_async``, ``batch_defer_async``, ``run_worker_async``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import _common


def make_app(dsn: str, store_result: bool = False):
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))
    # ours only (procrastinate 3.10 has no store_result): a small result kept
    options = {"store_result": True} if store_result else {}

    @app.task(name=_common.TASK, **options)
    async def noop(i: int = 0, seconds: float = 0) -> Any:
        if seconds:
            await asyncio.sleep(seconds)
        _common.STOP_AFTER.ran_one()
        return {"i": i, "ok": True} if store_result else None

    @app.task(name=_common.PROBE)
    async def probe(i: int = 0) -> None:
        _common.probe_started(i)

    return app, noop, probe


def info() -> dict[str, Any]:
    import importlib.metadata

    import procrastinate

    try:
        version = importlib.metadata.version("procrastinate")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return {"version": version, "module": list(procrastinate.__path__)[0]}


async def _defer(dsn: str, n: int, batch_size: int) -> dict[str, Any]:
    app, noop, _ = make_app(dsn)
    async with app.open_async():
        await noop.defer_async(i=-1)  # warm-up: pool connected, statements ready
        start = time.perf_counter()
        if batch_size <= 0:
            for i in range(n):
                await noop.defer_async(i=i)
        else:
            for first in range(0, n, batch_size):
                last = min(first + batch_size, n)
                await noop.batch_defer_async(*({"i": i} for i in range(first, last)))
        seconds = time.perf_counter() - start
    return {"n": n, "seconds": seconds}


def defer(args) -> dict[str, Any]:
    return asyncio.run(_defer(args.dsn, args.n, args.batch_size))


async def _prefill(dsn: str, n: int, store_result: bool, seconds: float = 0) -> None:
    app, noop, _ = make_app(dsn, store_result)
    # a job that lasts (the queue limit row) sleeps: no other row passes it
    nap = {"seconds": seconds} if seconds else {}
    async with app.open_async():
        for first in range(0, n, 5000):
            last = min(first + 5000, n)
            await noop.batch_defer_async(*({"i": i, **nap} for i in range(first, last)))


def prefill(args) -> dict[str, Any]:
    asyncio.run(_prefill(args.dsn, args.n, bool(args.store_result), args.seconds))
    return {"n": args.n}


def _queues(spec: str) -> list[str] | None:
    return [q for q in spec.split(",") if q] or None


async def _work(
    dsn: str, concurrency: int, n: int, queues: list[str] | None, store_result: bool
) -> None:
    app, _, _ = make_app(dsn, store_result)
    async with app.open_async():
        if not n:
            await app.run_worker_async(
                concurrency=concurrency, wait=False, listen_notify=True, queues=queues
            )
            return
        # Stopped once it has run n jobs: cancelling run_worker_async is its
        # graceful stop (running jobs end first).
        _common.STOP_AFTER.arm(n)
        worker = asyncio.ensure_future(
            app.run_worker_async(
                concurrency=concurrency, wait=True, listen_notify=True, queues=queues
            )
        )
        stop = asyncio.ensure_future(_common.STOP_AFTER.event.wait())
        await asyncio.wait([worker, stop], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        worker.cancel()
        try:
            await worker
        except asyncio.CancelledError:
            pass


def work(args) -> dict[str, Any]:
    asyncio.run(
        _work(args.dsn, args.concurrency, args.n, _queues(args.queues), bool(args.store_result))
    )
    return {"rss_kb": _common.vm_hwm_kb()}


async def _retention(dsn: str) -> float:
    app, _, _ = make_app(dsn)
    async with app.open_async():
        start = time.perf_counter()
        # what the builtin task remove_old_jobs does: finished over an hour ago
        await app.job_manager.delete_old_jobs(nb_hours=1)
        return time.perf_counter() - start


def retention(args) -> dict[str, Any]:
    """Time the retention of the finished jobs (add-finished puts them a day
    old): the builtin task's call, ``job_manager.delete_old_jobs(nb_hours=1)``
    (procrastinate 3.10's returns nothing: the jobs are counted around it).
    The jobs first get the history a worker leaves (deferred, started and
    succeeded events, a day old; triggers off): 3.10 dates a job by its last
    event, and both delete the events with the jobs."""
    import psycopg

    def count() -> int:
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            row = conn.execute("select count(*) from procrastinate_jobs").fetchone()
            return row[0] if row else 0

    with psycopg.connect(args.dsn, autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")
        conn.execute(
            """
            insert into procrastinate_events (job_id, type, at)
            select j.id, e.type::procrastinate_job_event_type, now() - interval '1 day'
            from procrastinate_jobs as j
            cross join (values ('deferred'), ('started'), ('succeeded')) as e (type)
            where j.status = 'succeeded'
            """
        )
        conn.execute("reset session_replication_role")
        conn.execute("vacuum analyze")
    before = count()
    seconds = asyncio.run(_retention(args.dsn))
    return {"seconds": seconds, "deleted": before - count()}


def backlog(args, connect) -> dict[str, Any]:
    """The backlog of a scale row, in procrastinate's table shape."""
    with connect(args.dsn) as conn:
        # Superuser only: skips the event and notify triggers.
        conn.execute("set session_replication_role = replica")
        for statement in _common.procrastinate_backlog_sql(args.shape):
            conn.execute(statement, (_common.TASK, args.n))
        conn.execute("reset session_replication_role")
        conn.execute("vacuum analyze")
    return {"n": args.n}


async def _listen(dsn: str, queues: list[str] | None, store_result: bool) -> None:
    app, _, _ = make_app(dsn, store_result)
    async with app.open_async():
        # Stopped by run.py with SIGTERM (the worker's own signal handling).
        await app.run_worker_async(concurrency=1, wait=True, listen_notify=True, queues=queues)


def listen(args) -> dict[str, Any]:
    asyncio.run(_listen(args.dsn, _queues(args.queues), bool(args.store_result)))
    return {"rss_kb": _common.vm_hwm_kb()}


async def _produce(dsn: str, n: int, interval: float, priority: int) -> dict[str, Any]:
    app, _, probe = make_app(dsn)
    if priority:
        probe = probe.configure(priority=priority)
    returned: list[float] = []
    async with app.open_async():
        await probe.defer_async(i=_common.WARMUP_PROBE)
        await asyncio.sleep(_common.WARMUP_PAUSE)
        async for i in _common.paced(n, interval):
            await probe.defer_async(i=i)
            returned.append(time.time())
    return {"returned": returned}


def produce(args) -> dict[str, Any]:
    return asyncio.run(_produce(args.dsn, args.n, args.interval, args.priority))


async def _wait(dsn: str, n: int, interval: float) -> dict[str, Any]:
    """Defer-and-wait round trips (ours only): defer a job that keeps its
    result, wait for the idle worker to run it and for its result to come
    back; ms each, one at a time, ``interval`` apart."""
    app, noop, _ = make_app(dsn, store_result=True)
    round_trips: list[float] = []
    async with app.open_async():
        await noop.defer_and_wait_async(i=-1)  # warm-up: LISTEN, statements ready
        await asyncio.sleep(_common.WARMUP_PAUSE)
        async for i in _common.paced(n, interval):
            start = time.perf_counter()
            result = await noop.defer_and_wait_async(i=i)
            round_trips.append((time.perf_counter() - start) * 1000)
            if result != {"i": i, "ok": True}:
                raise SystemExit(f"wait: job {i} returned {result!r}")
    return {"round_trips_ms": round_trips}


def wait(args) -> dict[str, Any]:
    return asyncio.run(_wait(args.dsn, args.n, args.interval))
