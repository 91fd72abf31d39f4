"""Rate limits (docs/flow-control.md), against a real database: the Python
forms (a task's ``rate_limit``, the App's ``queue_limits``), set by a worker
when it starts; concurrent claims that never start more jobs than the bucket
holds; and worker processes that hold a rate of 20 starts a second."""

from __future__ import annotations

import collections
import datetime
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

import procrastinate

from worker_helpers import one_shot


def rates(db: psycopg.Connection) -> list[tuple[Any, ...]]:
    rows = db.execute(
        "select scope, name, concurrency, rate, extract(epoch from per)::float as per "
        "from procrastinate_limits order by scope, name"
    ).fetchall()
    return [(r["scope"], r["name"], r["concurrency"], r["rate"], r["per"]) for r in rows]


# --- the Python API -----------------------------------------------------------------


async def test_a_worker_sets_the_rate_limits_written_in_the_code(
    db_dsn: str, db: psycopg.Connection
) -> None:
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=db_dsn),
        queue_limits={
            "emails": "100/m",
            "sms": {"concurrency": 2, "rate": (10, datetime.timedelta(seconds=1))},
            "push": 4,
        },
    )

    @app.task(name="call_api", concurrency_limit=5, rate_limit="3/s")
    async def call_api() -> None:
        pass

    @app.task(name="report", rate_limit=procrastinate.RateLimit(1, 3600))
    async def report() -> None:
        pass

    # set from psql before: the code wins for what it gives
    db.execute(
        "select procrastinate_set_limit(task_name => 'call_api', rate => 1, per => '1 day')"
    )
    async with app.open_async():
        await one_shot(app)
    assert rates(db) == [
        ("queue", "emails", None, 100, 60.0),
        ("queue", "push", 4, None, None),
        ("queue", "sms", 2, 10, 1.0),
        ("task", "call_api", 5, 3, 1.0),
        ("task", "report", None, 1, 3600.0),
    ]
    # a second start leaves limits in place as given alone: the bucket keeps
    # the tokens it has
    db.execute("update procrastinate_limits set tokens = 0.5 where name = 'report'")
    async with app.open_async():
        await one_shot(app)
    row = db.execute("select tokens from procrastinate_limits where name = 'report'").fetchone()
    assert row is not None and row["tokens"] == 0.5


async def test_a_worker_on_a_database_without_rate_limits_sets_the_rest(
    db_dsn: str, db: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    # Post migration 0044 pending: no procrastinate_register_limits_v2 nor
    # procrastinate_limit_wait_v1. The worker sets the concurrency limits
    # through v1, says the rates are not set, and runs.
    # (v1 is now v2's wrapper: it keeps working on v2's code under another
    # name, as the v1 of the release before did on its own)
    v1 = db.execute(
        "select pg_get_functiondef('procrastinate_register_limits_v1(jsonb)'::regprocedure) as d"
    ).fetchone()["d"]
    db.execute("alter function procrastinate_register_limits_v2(jsonb) rename to hidden_v2")
    db.execute(v1.replace("procrastinate_register_limits_v2(", "hidden_v2("))
    db.execute("drop function procrastinate_limit_wait_v1(text[])")
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=db_dsn))

    @app.task(name="call_api", concurrency_limit=5, rate_limit="3/s")
    async def call_api() -> None:
        pass

    async with app.open_async():
        await call_api.defer_async()
        await one_shot(app)
    assert rates(db) == [("task", "call_api", 5, None, None)]
    assert "rate_limits_not_set" in [getattr(r, "action", None) for r in caplog.records]
    row = db.execute("select status::text as s from procrastinate_jobs").fetchone()
    assert row is not None and row["s"] == "succeeded"


def test_bad_rates_are_refused_naming_the_problem(db_dsn: str) -> None:
    connector = procrastinate.PsycopgConnector(conninfo=db_dsn)
    app = procrastinate.App(connector=connector)
    for bad in ("100", "100/week", "-3/s", (1, 0), (1, -1), (2.5, 1), 3, [1, 1]):
        with pytest.raises(ValueError, match="the rate limit of task 'bad' must be"):
            app.task(name="bad", rate_limit=bad)(lambda: None)
    with pytest.raises(ValueError, match="the rate limit of queue 'emails' must be"):
        procrastinate.App(connector=connector, queue_limits={"emails": "lots/s"})
    with pytest.raises(ValueError, match="the limits of queue 'emails' are"):
        procrastinate.App(connector=connector, queue_limits={"emails": {"rates": "1/s"}})
    with pytest.raises(ValueError, match="the limits of queue 'emails' are"):
        procrastinate.App(connector=connector, queue_limits={"emails": 2.5})


async def test_a_worker_that_does_not_wait_still_waits_for_the_tokens(
    app: procrastinate.App, db: psycopg.Connection
) -> None:
    # wait=False stops once no job is left, not while jobs wait for a token:
    # 8 jobs at 20 a second, a bucket of 20 emptied first, start over ~0.4 s
    @app.task(name="ping")
    async def ping() -> None:
        pass

    db.execute(
        "select procrastinate_set_limit(queue_name => 'rated', rate => 20, per => '1 second')"
    )
    emptied = db.execute(
        "update procrastinate_limits set tokens = 0, refilled_at = clock_timestamp() "
        "returning refilled_at"
    ).fetchone()["refilled_at"]
    await ping.configure(queue="rated").batch_defer_async(*({} for _ in range(8)))
    await one_shot(app, queues=["rated"])
    row = db.execute(
        "select count(*) as n, extract(epoch from max(started_at) - %s) as last_start "
        "from procrastinate_jobs where status = 'succeeded'",
        [emptied],
    ).fetchone()
    assert row is not None and row["n"] == 8
    # one token every 50 ms from the emptied bucket: the 8th start needed 8
    # of them, however late the worker began (tokens pile up meanwhile)
    assert row["last_start"] >= 0.39


# --- concurrent claims ------------------------------------------------------------


def test_concurrent_claims_never_start_more_than_the_bucket_holds(
    db: psycopg.Connection, db_dsn: str
) -> None:
    # 8 sessions claim from one queue as fast as they can; the bucket holds
    # 50 starts and refills by one an hour: exactly 50 jobs start, however
    # the claims interleave (each waits for the limit's row lock, then sees
    # the tokens the previous one left).
    db.execute(
        "select procrastinate_set_limit(queue_name => 'rated', rate => 50, per => '50 hours')"
    )
    db.execute(
        """select procrastinate_defer_jobs(jsonb_agg(jsonb_build_object(
               'task_name', 't', 'queue_name', 'rated')))
           from generate_series(1, 500)"""
    )
    claimed: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def claim() -> None:
        try:
            with psycopg.connect(db_dsn, autocommit=True) as connection:
                worker = connection.execute(
                    "select procrastinate_register_worker_v2('w', null, 10, 'h', 1)"
                ).fetchone()
                assert worker is not None
                start.wait()
                for _ in range(30):
                    rows = connection.execute(
                        "select id from procrastinate_fetch_jobs_v4(%s, array['rated'], 3)",
                        [worker[0]],
                    ).fetchall()
                    claimed.extend(row[0] for row in rows)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(claimed) == len(set(claimed)) == 50
    row = db.execute("select tokens from procrastinate_limits where name = 'rated'").fetchone()
    assert row is not None and 0 <= row["tokens"] < 1


# --- worker processes hold a rate ---------------------------------------------------

RATE = 20  # starts a second
WORKERS = 3
WATCH_SECONDS = 10


@pytest.mark.subprocess
def test_worker_processes_hold_a_rate_of_20_starts_a_second(
    db: psycopg.Connection, background: Callable[..., Any]
) -> None:
    # Three workers of concurrency 20 and short jobs could start thousands a
    # second; the queue's rate lets 20 start a second. Counted from the
    # jobs' started_at, per second, over the 10 s after the first second
    # (which also starts the full bucket: up to 20 at once).
    db.execute(
        "select procrastinate_set_limit(queue_name => 'rated', rate => %s, per => '1 second')",
        [RATE],
    )
    db.execute(
        """select procrastinate_defer_jobs(jsonb_agg(jsonb_build_object(
               'task_name', 'async_sleep', 'queue_name', 'rated',
               'args', jsonb_build_object('seconds', 0.01))))
           from generate_series(1, 2000)"""
    )
    workers = [
        background("worker", "--concurrency", "20", "--queues", "rated")
        for _ in range(WORKERS)
    ]

    def started() -> int:
        row = db.execute(
            "select count(*) as n from procrastinate_jobs "
            "where queue_name = 'rated' and started_at is not null"
        ).fetchone()
        assert row is not None
        return row["n"]

    try:
        deadline = time.monotonic() + 60
        while started() == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        # the first second, then the 10 watched, then a margin
        time.sleep(1 + WATCH_SECONDS + 1)
    finally:
        for worker in workers:
            worker.stop()
    rows = db.execute(
        """select
               floor(extract(epoch from j.started_at - f.first))::integer as second,
               count(*) as n,
               count(distinct j.worker_id) as workers
           from procrastinate_jobs as j
           cross join (
               select min(started_at) as first from procrastinate_jobs
               where queue_name = 'rated'
           ) as f
           where j.queue_name = 'rated' and j.started_at is not null
           group by 1 order by 1"""
    ).fetchall()
    per_second = collections.Counter({row["second"]: row["n"] for row in rows})
    watched = [per_second[second] for second in range(1, 1 + WATCH_SECONDS)]
    log = workers[0].log_path.read_text()[-3000:]
    # the full bucket and the first second's refill: at most 2 x RATE
    assert per_second[0] <= 2 * RATE, (per_second, log)
    # held within 10% over the 10 s, and every second too
    assert RATE * WATCH_SECONDS * 0.9 <= sum(watched) <= RATE * WATCH_SECONDS * 1.1, (
        watched, log
    )
    assert all(n <= RATE * 1.1 for n in watched), (per_second, log)
    # the three workers shared the work
    workers_seen = db.execute(
        "select count(distinct worker_id) as n from procrastinate_jobs "
        "where queue_name = 'rated' and started_at is not null"
    ).fetchone()
    assert workers_seen is not None and workers_seen["n"] == WORKERS
