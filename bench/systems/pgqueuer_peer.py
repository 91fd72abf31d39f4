"""Benchmark adapter for pgqueuer (latest from PyPI).

Run with .bench/venv-pgqueuer (pip install pgqueuer asyncpg psycopg[binary]). The
schema is its own (``pgq install``). pgqueuer deletes a job from its queue
table when it ends and logs every transition in pgqueuer_log (queued, picked,
successful ...): finished jobs live in that log, and the timings come from it.

Concurrency C maps to ``QueueManager.run(max_concurrent_tasks=C,
batch_size=B)``: max_concurrent_tasks is pgqueuer's hard cap on the jobs one
worker holds, and it must be at least twice the batch size. B is pgqueuer's
default batch size (10), lowered to C // 2 where that rule requires it: like
procrastinate and ours, pgqueuer runs at its defaults, concurrency being the
only knob. BENCH_PGQUEUER_BATCH=half sets B = C // 2 at every concurrency,
the largest batches pgqueuer allows (50 at concurrency 100: a tuning the
other systems do not get; see bench/README.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import _common


#: pgqueuer's own default (QueueManager.run's batch_size).
DEFAULT_BATCH_SIZE = 10
BATCH = os.environ.get("BENCH_PGQUEUER_BATCH", "default")
if BATCH not in ("default", "half"):
    raise SystemExit(f"BENCH_PGQUEUER_BATCH must be default or half, got {BATCH!r}")


def batch_size(concurrency: int) -> int:
    half = max(1, concurrency // 2)
    return half if BATCH == "half" else min(DEFAULT_BATCH_SIZE, half)


# Which of its drivers pgqueuer runs on: asyncpg (the default here: its CLI
# and README reach for it first, and it is pgqueuer's fastest) or psycopg
# (BENCH_PGQUEUER_DRIVER=psycopg), whose driver shares one connection between
# queries and LISTEN and is slower; see bench/README.md.
DRIVER = os.environ.get("BENCH_PGQUEUER_DRIVER", "asyncpg")


class _Connection:
    """One connection and pgqueuer's driver over it."""

    def __init__(self, conn, driver) -> None:
        self.conn = conn
        self.driver = driver

    async def close(self) -> None:
        await self.conn.close()


async def _connect(dsn: str) -> _Connection:
    if DRIVER == "asyncpg":
        import asyncpg
        from pgqueuer import AsyncpgDriver

        # asyncpg reads PGHOST/PGPORT/PGUSER like libpq; the DSN only names the database.
        params = dict(item.split("=", 1) for item in dsn.split())
        conn = await asyncpg.connect(database=params.get("dbname"))
        return _Connection(conn, AsyncpgDriver(conn))
    import psycopg
    from pgqueuer import PsycopgDriver

    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    return _Connection(conn, PsycopgDriver(conn))


def connect(dsn: str):
    import psycopg

    return psycopg.connect(dsn, autocommit=True)


def _payload(i: int) -> bytes:
    return json.dumps({"i": i}).encode()


def install(args) -> dict[str, Any]:
    pgq = os.path.join(os.path.dirname(sys.executable), "pgq")
    # Its CLI connects with asyncpg when installed, which takes no libpq
    # keyword DSN: name the database through the environment instead.
    params = dict(item.split("=", 1) for item in args.dsn.split())
    env = dict(os.environ, PGDATABASE=params["dbname"])
    proc = subprocess.run([pgq, "install"], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"pgq install failed: {proc.stderr.strip()[-500:]}")
    return {}


def add_finished(args) -> dict[str, Any]:
    """N finished jobs: pgqueuer keeps them only as 'successful' log rows."""
    with connect(args.dsn) as conn:
        conn.execute(
            """
            insert into pgqueuer_log (created, job_id, status, priority, entrypoint, aggregated)
            select now() - interval '1 day', g, 'successful', 0, %s, true
            from generate_series(1, %s) as g
            """,
            (_common.TASK, args.n),
        )
        conn.execute("select setval('pgqueuer_id_seq', %s)", (args.n,))
        conn.execute("vacuum analyze")
    return {"n": args.n}


def span(args) -> dict[str, Any]:
    with connect(args.dsn) as conn:
        row = conn.execute(
            """
            select
                extract(epoch from min(created) filter (where status = 'picked')),
                extract(epoch from max(created) filter (where status = 'successful')),
                count(*) filter (where status = 'successful')
            from pgqueuer_log
            where created >= to_timestamp(%s)
            """,
            (args.since,),
        ).fetchone()
    return {
        "first_start": None if row[0] is None else float(row[0]),
        "last_finish": None if row[1] is None else float(row[1]),
        "finished": row[2],
    }


def info(args) -> dict[str, Any]:
    import importlib.metadata

    import pgqueuer

    return {
        "system": "pgqueuer",
        "version": importlib.metadata.version("pgqueuer")
        + (f" ({DRIVER}, batch_size C/2)" if BATCH == "half" else f" ({DRIVER})"),
        "module": os.path.dirname(pgqueuer.__file__),
    }


async def _enqueue(dsn: str, n: int, batch_size: int, warm_up: bool = True) -> float:
    from pgqueuer import Queries

    conn = await _connect(dsn)
    queries = Queries(conn.driver)
    if warm_up:  # connection and statements ready before the clock starts
        await queries.enqueue(_common.TASK, _payload(-1), 0)
    start = time.perf_counter()
    if batch_size <= 0:
        for i in range(n):
            await queries.enqueue(_common.TASK, _payload(i), 0)
    else:
        for first in range(0, n, batch_size):
            idx = range(first, min(first + batch_size, n))
            await queries.enqueue(
                [_common.TASK] * len(idx), [_payload(i) for i in idx], [0] * len(idx)
            )
    seconds = time.perf_counter() - start
    await conn.close()
    return seconds


def defer(args) -> dict[str, Any]:
    return {"n": args.n, "seconds": asyncio.run(_enqueue(args.dsn, args.n, args.batch_size))}


def prefill(args) -> dict[str, Any]:
    asyncio.run(_enqueue(args.dsn, args.n, 5000, warm_up=False))
    return {"n": args.n}


def _queue_manager(conn: _Connection):
    from pgqueuer import QueueManager, Queries

    qm = QueueManager(Queries(conn.driver))

    @qm.entrypoint(_common.TASK)
    async def noop(job) -> None:
        _common.STOP_AFTER.ran_one()

    @qm.entrypoint(_common.PROBE)
    async def probe(job) -> None:
        _common.probe_started(json.loads(job.payload)["i"])

    return qm


def _stop_on_signals(qm) -> None:
    """SIGTERM / SIGINT stop the worker gracefully (what pgqueuer's CLI does)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, qm.shutdown.set)


async def _work(dsn: str, concurrency: int, n: int) -> None:
    from pgqueuer.types import QueueExecutionMode

    conn = await _connect(dsn)
    qm = _queue_manager(conn)
    _stop_on_signals(qm)
    if n:
        # Stopped once it has run n jobs (its graceful shutdown).
        _common.STOP_AFTER.arm(n)

        async def stop_after() -> None:
            await _common.STOP_AFTER.event.wait()
            qm.shutdown.set()

        stopper = asyncio.ensure_future(stop_after())
        await qm.run(batch_size=batch_size(concurrency), max_concurrent_tasks=max(2, concurrency))
        stopper.cancel()
    else:
        await qm.run(
            batch_size=batch_size(concurrency),
            max_concurrent_tasks=max(2, concurrency),
            mode=QueueExecutionMode.drain,
        )
    await conn.close()


def work(args) -> dict[str, Any]:
    # A worker serves the entrypoints it registers: the "queues" backlog
    # (other entrypoints) is never fetched, whatever --queues says.
    asyncio.run(_work(args.dsn, args.concurrency, args.n))
    return {"rss_kb": _common.vm_hwm_kb()}


def backlog(args) -> dict[str, Any]:
    """The backlog of a scale row in pgqueuer's table. It has no lock that
    serialises jobs: the "locks" and "hot_lock" shapes are not supported."""
    payload = "convert_to(json_build_object('i', g)::text, 'UTF8')"
    series = "from generate_series(1, %s) as g"
    statements = {
        "waiting": "insert into pgqueuer (priority, entrypoint, payload, status) "
        f"select 0, %s, {payload}, 'queued' {series}",
        "scheduled": "insert into pgqueuer (priority, entrypoint, payload, status, execute_after) "
        f"select 0, %s, {payload}, 'queued', now() + interval '1 day' {series}",
        # its queues are entrypoints: 199 the worker does not register
        "queues": "insert into pgqueuer (priority, entrypoint, payload, status) "
        f"select 0, %s || '-other-' || mod(g, 199), {payload}, 'queued' {series}",
    }
    if args.shape not in statements:
        raise SystemExit(f"pgqueuer has no backlog of shape {args.shape!r} (no serialising lock)")
    with connect(args.dsn) as conn:
        conn.execute(statements[args.shape], (_common.TASK, args.n))
        conn.execute("vacuum analyze")
    return {"n": args.n}


async def _listen(dsn: str) -> None:
    conn = await _connect(dsn)
    qm = _queue_manager(conn)
    _stop_on_signals(qm)
    # One job at a time is all an idle worker sees with a probe every 50 ms.
    await qm.run(batch_size=1)
    await conn.close()


def listen(args) -> dict[str, Any]:
    asyncio.run(_listen(args.dsn))
    return {"rss_kb": _common.vm_hwm_kb()}


async def _produce(dsn: str, n: int, interval: float, priority: int) -> dict[str, Any]:
    from pgqueuer import Queries

    conn = await _connect(dsn)
    queries = Queries(conn.driver)
    returned: list[float] = []
    await queries.enqueue(_common.PROBE, _payload(_common.WARMUP_PROBE), 0)
    await asyncio.sleep(_common.WARMUP_PAUSE)
    async for i in _common.paced(n, interval):
        await queries.enqueue(_common.PROBE, _payload(i), priority)
        returned.append(time.time())
    await conn.close()
    return {"returned": returned}


def produce(args) -> dict[str, Any]:
    return asyncio.run(_produce(args.dsn, args.n, args.interval, args.priority))


if __name__ == "__main__":
    _common.main(
        {
            "info": info,
            "install": install,
            "add-finished": add_finished,
            "span": span,
            "defer": defer,
            "prefill": prefill,
            "backlog": backlog,
            "work": work,
            "listen": listen,
            "produce": produce,
        }
    )
