"""Global concurrency limits (docs/flow-control.md), against a real database:
the Python API (a task's ``concurrency_limit``, the App's ``queue_limits``,
``configure(limit_key=...)``), set by workers when they start; worker
processes that never run more jobs of a limited queue than its limit,
sampled while they work; and the prefetch buffer, which never holds a job
under a limit."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

import procrastinate

from worker_helpers import Running, one_shot, wait_for


def limits(db: psycopg.Connection) -> list[tuple[str, str, int]]:
    rows = db.execute(
        "select scope, name, concurrency from procrastinate_limits order by scope, name"
    ).fetchall()
    return [(row["scope"], row["name"], row["concurrency"]) for row in rows]


# --- the Python API -----------------------------------------------------------------


async def test_a_worker_sets_the_limits_written_in_the_code(
    db_dsn: str, db: psycopg.Connection
) -> None:
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=db_dsn),
        queue_limits={"emails": 4},
    )

    @app.task(name="call_api", concurrency_limit=5)
    async def call_api() -> None:
        pass

    @app.task(name="free", aliases=["free_alias"])
    async def free() -> None:
        pass

    # set from psql before: the code wins once a worker starts
    db.execute("select procrastinate_set_limit(task_name => 'call_api', concurrency => 1)")
    async with app.open_async():
        await one_shot(app)
    assert limits(db) == [("queue", "emails", 4), ("task", "call_api", 5)]


async def test_limit_key_travels_with_the_job(app: procrastinate.App, db: psycopg.Connection):
    @app.task(name="per_tenant")
    async def per_tenant(n: int) -> None:
        pass

    job_id = await per_tenant.configure(limit_key="tenant:42").defer_async(n=1)
    other_id = await per_tenant.defer_async(n=2)
    batch = await per_tenant.configure(limit_key="tenant:7").batch_defer_async({"n": 3})
    rows = db.execute(
        "select id, limit_key from procrastinate_jobs order by id"
    ).fetchall()
    assert [(row["id"], row["limit_key"]) for row in rows] == [
        (job_id, "tenant:42"), (other_id, None), (batch[0], "tenant:7")
    ]


def test_bad_limits_are_refused_naming_the_problem(db_dsn: str) -> None:
    connector = procrastinate.PsycopgConnector(conninfo=db_dsn)
    app = procrastinate.App(connector=connector)
    for bad in (-1, 2.5, "3", True):
        with pytest.raises(ValueError, match="concurrency limit of task 'bad'"):
            app.task(name="bad", concurrency_limit=bad)(lambda: None)
    with pytest.raises(ValueError, match="concurrency limit of queue 'emails'"):
        procrastinate.App(connector=connector, queue_limits={"emails": -2})

    @app.task(name="fine")
    def fine() -> None:
        pass

    with pytest.raises(ValueError, match="limit_key must be a non-empty string, got ''"):
        fine.configure(limit_key="")


# --- many workers, one limit ------------------------------------------------------

#: How long the workers are watched, and how often (seconds).
WATCH_SECONDS = 10.0
SAMPLE_EVERY = 0.003
LIMIT = 3
WORKERS = 3
CONCURRENCY = 50


class Sampler(threading.Thread):
    """Counts the running jobs of a queue every few milliseconds, on its own
    connection, until stopped."""

    def __init__(self, dsn: str, queue: str):
        super().__init__(daemon=True)
        self.dsn, self.queue = dsn, queue
        self.samples: list[int] = []
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as connection:
                while not self.stopping.is_set():
                    row = connection.execute(
                        "select count(*) from procrastinate_jobs "
                        "where status = 'doing' and queue_name = %s",
                        [self.queue],
                    ).fetchone()
                    assert row is not None
                    self.samples.append(row[0])
                    self.stopping.wait(SAMPLE_EVERY)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def succeeded(db: psycopg.Connection, queue: str) -> int:
    row = db.execute(
        "select count(*) as n from procrastinate_jobs "
        "where queue_name = %s and status = 'succeeded'",
        [queue],
    ).fetchone()
    assert row is not None
    return int(row["n"])


@pytest.mark.subprocess
def test_worker_processes_never_run_more_jobs_than_the_limit(
    db: psycopg.Connection, db_dsn: str, background: Callable[..., Any]
) -> None:
    db.execute(
        "select procrastinate_set_limit(queue_name => 'capped', concurrency => %s)", [LIMIT]
    )
    # far more than the limit lets run in the watch: the queue never empties
    db.execute(
        """select procrastinate_defer_jobs(jsonb_agg(jsonb_build_object(
               'task_name', 'async_sleep', 'queue_name', 'capped',
               'args', jsonb_build_object('seconds', 0.02))))
           from generate_series(1, 3000)"""
    )
    # and jobs of a queue without limit, for the same workers
    db.execute(
        """select procrastinate_defer_jobs(jsonb_agg(jsonb_build_object(
               'task_name', 'async_sleep', 'queue_name', 'free',
               'args', jsonb_build_object('seconds', 0.2))))
           from generate_series(1, 300)"""
    )
    sampler = Sampler(db_dsn, "capped")
    sampler.start()
    workers = [
        background(
            "worker", "--concurrency", str(CONCURRENCY), "--queues", "capped,free",
            "--fetch-job-polling-interval", "0.1",
        )
        for _ in range(WORKERS)
    ]
    try:
        # at least WATCH_SECONDS, and until both queues were worked on (the
        # workers start slowly on a loaded machine)
        watch_until = time.monotonic() + WATCH_SECONDS
        give_up = watch_until + 120
        while time.monotonic() < give_up and (
            time.monotonic() < watch_until
            or min(succeeded(db, "capped"), succeeded(db, "free")) <= 100
        ):
            sampler.stopping.wait(0.2)
    finally:
        sampler.stopping.set()
        sampler.join(10)
        for worker in workers:
            worker.stop()
    assert sampler.error is None
    assert max(sampler.samples) == LIMIT, (
        max(sampler.samples), workers[0].log_path.read_text()[-3000:]
    )
    # every few milliseconds (a loaded machine slows the sampler down)
    assert len(sampler.samples) > 200
    assert succeeded(db, "capped") > 100, "the limited queue was worked on"
    assert succeeded(db, "free") > 100, "the other queue ran beside it"
    # the runs themselves, timed by the database: never more than the limit
    # overlap (each start counted against the runs not yet ended)
    overlap = db.execute(
        """select max(o.n) as most from acceptance_runs as r
           cross join lateral (
               select count(*) as n from acceptance_runs as o
               where
                   o.started_at <= r.started_at
                   and (o.ended_at is null or o.ended_at > r.started_at)
                   and o.job_id in (select id from procrastinate_jobs where queue_name = 'capped')
           ) as o
           where r.job_id in (select id from procrastinate_jobs where queue_name = 'capped')"""
    ).fetchone()
    assert overlap is not None and 1 <= overlap["most"] <= LIMIT


# --- prefetch ----------------------------------------------------------------------


async def most_doing(db: psycopg.Connection, queue: str, until: Callable[[], bool]) -> int:
    most = 0
    deadline = time.monotonic() + 60
    while not until() and time.monotonic() < deadline:
        row = db.execute(
            "select count(*) as n from procrastinate_jobs where status = 'doing' "
            "and queue_name = %s",
            [queue],
        ).fetchone()
        assert row is not None
        most = max(most, row["n"])
        await asyncio.sleep(0.002)
    return most


@pytest.mark.parametrize("limited", [False, True])
async def test_the_prefetch_buffer_never_holds_a_limited_job(
    app: procrastinate.App, db: psycopg.Connection, limited: bool
) -> None:
    # One worker, one slot, a prefetch buffer of 5, short jobs: it claims
    # ahead (several jobs doing at once) unless the queue has a limit, whose
    # slots it then takes only to run at once (one doing at a time, though
    # the limit of 3 would allow more).
    @app.task(name="short")
    async def short() -> None:
        await asyncio.sleep(0.002)

    if limited:
        db.execute("select procrastinate_set_limit(queue_name => 'q', concurrency => 3)")
    await short.configure(queue="q").batch_defer_async(*({} for _ in range(300)))

    def all_done() -> bool:
        row = db.execute(
            "select count(*) as n from procrastinate_jobs where status <> 'succeeded'"
        ).fetchone()
        return row is not None and row["n"] == 0

    running = Running(app, concurrency=1, prefetch=5, fetch_job_polling_interval=0.05)
    try:
        most = await most_doing(db, "q", all_done)
        await wait_for(all_done, "every job to run")
    finally:
        await running.stop()
    if limited:
        assert most == 1
    else:
        assert most > 1  # the buffer was in use: the limited case shows it held none
