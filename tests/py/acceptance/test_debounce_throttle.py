"""Debounce and throttle on defer (docs/flow-control.md), against a real
database: a burst of debounced defers runs once, with the last args, under a
real worker; debounced defers of one key from several sessions at once never
make two waiting jobs nor fail; throttle keeps one job per period, beyond
the job's deletion; bad options are refused before anything is written."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import psycopg
import pytest

import procrastinate
from procrastinate import exceptions

from worker_helpers import Running, wait_for


def waiting(db: psycopg.Connection, lock: str) -> list[dict[str, Any]]:
    return db.execute(
        "select id, args from procrastinate_jobs where queueing_lock = %s and status = 'todo'",
        [lock],
    ).fetchall()


# --- debounce -------------------------------------------------------------------------


async def test_a_thousand_debounced_defers_in_a_burst_run_once_with_the_last_args(
    app: procrastinate.App, db: psycopg.Connection
) -> None:
    runs: list[int] = []

    @app.task(name="refresh")
    async def refresh(n: int) -> None:
        runs.append(n)

    # the worker runs all along, polling often: the job must not start while
    # defers keep coming, each within the debounce period of the one before
    running = Running(app, fetch_job_polling_interval=0.05, listen_notify=False)
    deferrer = refresh.configure(queueing_lock="refresh:user:1", debounce=1.0)

    async def defer_some(numbers: range) -> set[int]:
        return {await deferrer.defer_async(n=n) for n in numbers}

    started = time.monotonic()
    # 999 defers from 4 connections at once, then the last one: its args win
    parts = await asyncio.gather(*(defer_some(range(k, 999, 4)) for k in range(4)))
    ids = set().union(*parts) | {await deferrer.defer_async(n=999)}
    elapsed = time.monotonic() - started
    (job_id,) = ids
    assert runs == []

    await wait_for(lambda: runs, "the debounced job to run")
    await wait_for(
        lambda: db.execute(
            "select status::text from procrastinate_jobs where id = %s", [job_id]
        ).fetchone()["status"] == "succeeded",
        "the job to succeed",
    )
    await running.stop()
    assert runs == [999]
    assert db.execute("select count(*) as n from procrastinate_jobs").fetchone()["n"] == 1
    # printed for the record (pytest -s): the defers of a burst, one by one
    print(f"1000 debounced defers in {elapsed:.3f} s")


def test_concurrent_debounced_defers_of_one_key_keep_one_waiting_job_with_the_last_args(
    db_dsn: str, db: psycopg.Connection
) -> None:
    sessions, per_session = 8, 40
    barrier = threading.Barrier(sessions)
    returned: list[set[int]] = [set() for _ in range(sessions)]
    errors: list[BaseException] = []

    def defer_many(session: int) -> None:
        try:
            with psycopg.connect(db_dsn, autocommit=True) as connection:
                barrier.wait()
                for n in range(per_session):
                    (job_id,) = connection.execute(
                        "select procrastinate_defer_job('refresh', %s::jsonb,"
                        " queueing_lock => 'refresh:all', debounce => 60)",
                        [f'{{"session": {session}, "n": {n}}}'],
                    ).fetchone()
                    returned[session].add(job_id)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    threads = [threading.Thread(target=defer_many, args=(s,)) for s in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    (job,) = waiting(db, "refresh:all")
    assert set().union(*returned) == {job["id"]}
    # the last defer of one of the sessions, whichever committed last
    assert job["args"]["n"] == per_session - 1
    last = db.execute(
        "select args from procrastinate_jobs where id = %s", [job["id"]]
    ).fetchone()["args"]
    assert last == job["args"]
    # a last defer after all of them leaves its args: none is lost
    db.execute(
        "select procrastinate_defer_job('refresh', '{\"session\": -1, \"n\": -1}',"
        " queueing_lock => 'refresh:all', debounce => 60)"
    )
    assert [row["args"] for row in waiting(db, "refresh:all")] == [{"session": -1, "n": -1}]


def test_debounced_defers_racing_a_claim_never_fail_nor_make_two_waiting_jobs(
    db_dsn: str, db: psycopg.Connection
) -> None:
    """With a debounce of 0, the waiting job is due at once: a claimer takes
    it while other sessions replace it, so defers meet a job that started
    between their insert and their update, and must insert again."""
    sessions, per_session = 4, 100
    done = threading.Event()
    errors: list[BaseException] = []
    most_waiting = 0

    def defer_many(session: int) -> None:
        try:
            with psycopg.connect(db_dsn, autocommit=True) as connection:
                for n in range(per_session):
                    connection.execute(
                        "select procrastinate_defer_job('refresh', %s::jsonb,"
                        " queueing_lock => 'refresh:race', debounce => 0)",
                        [f'{{"session": {session}, "n": {n}}}'],
                    )
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    def claim() -> None:
        nonlocal most_waiting
        with psycopg.connect(db_dsn, autocommit=True) as connection:
            while not done.is_set():
                connection.execute(
                    "select * from procrastinate_fetch_jobs_v2(null, null, 10)"
                ).fetchall()
                (count,) = connection.execute(
                    "select count(*) from procrastinate_jobs"
                    " where queueing_lock = 'refresh:race' and status = 'todo'"
                ).fetchone()
                most_waiting = max(most_waiting, count)

    claimer = threading.Thread(target=claim)
    claimer.start()
    threads = [threading.Thread(target=defer_many, args=(s,)) for s in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    claimer.join()

    assert errors == []
    assert most_waiting <= 1
    assert len(waiting(db, "refresh:race")) <= 1
    # the claimer did take jobs between the defers: the race was run
    started = db.execute(
        "select count(*) as n from procrastinate_jobs"
        " where queueing_lock = 'refresh:race' and status = 'doing'"
    ).fetchone()["n"]
    assert started >= 2


async def test_debounce_from_batch_defer_and_job_objects(
    app: procrastinate.App, db: psycopg.Connection
) -> None:
    @app.task(name="refresh")
    async def refresh(n: int) -> None:
        pass

    ids = await refresh.configure(queueing_lock="k", debounce=30).batch_defer_async(
        {"n": 1}, {"n": 2}, {"n": 3}
    )
    assert len(set(ids)) == 1
    assert [row["args"] for row in waiting(db, "k")] == [{"n": 3}]
    (other,) = await app.job_manager.defer_job_objects_async(
        [{"task_name": "refresh", "args": {"n": 4}, "queueing_lock": "k", "debounce": 30}]
    )
    assert other == ids[0]
    assert [row["args"] for row in waiting(db, "k")] == [{"n": 4}]
    # a plain defer of the key still meets the queueing lock
    with pytest.raises(exceptions.AlreadyEnqueued):
        await refresh.configure(queueing_lock="k").defer_async(n=5)
    # a debounce never replaces the waiting job of another task
    with pytest.raises(exceptions.AlreadyEnqueued) as raised:
        await app.configure_task("other", queueing_lock="k", debounce=30).defer_async(n=6)
    assert raised.value.__cause__.queueing_lock == "k"
    assert [row["args"] for row in waiting(db, "k")] == [{"n": 4}]


# --- throttle -------------------------------------------------------------------------


async def test_throttle_keeps_one_job_per_period_beyond_its_deletion(
    app: procrastinate.App, db: psycopg.Connection
) -> None:
    @app.task(name="digest")
    async def digest(n: int) -> None:
        pass

    deferrer = digest.configure(queueing_lock="digest:1", throttle=60)
    first = await deferrer.defer_async(n=1)
    assert await deferrer.defer_async(n=2) == first
    assert await deferrer.batch_defer_async({"n": 3}, {"n": 4}) == [first, first]
    rows = db.execute("select id, args from procrastinate_jobs").fetchall()
    assert [(row["id"], row["args"]) for row in rows] == [(first, {"n": 1})]

    # the job ends and is deleted: the period remains
    await app.job_manager.cancel_job_by_id_async(first, delete_job=True)
    assert await deferrer.defer_async(n=5) == first
    assert db.execute("select count(*) as n from procrastinate_jobs").fetchone()["n"] == 0

    # the period ends (its end moved to the past: no waiting)
    db.execute("update procrastinate_throttles set throttled_until = now() - interval '1 s'")
    second = await deferrer.defer_async(n=6)
    assert second != first
    assert [row["args"] for row in waiting(db, "digest:1")] == [{"n": 6}]


# --- bad options ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"queueing_lock": "k", "debounce": 1, "throttle": 1}, "cannot be combined"),
        ({"debounce": 1}, "debounce needs a queueing_lock"),
        ({"queueing_lock": "k", "throttle": -1}, "throttle must be a number of seconds"),
        ({"queueing_lock": "k", "debounce": "1"}, "debounce must be a number of seconds"),
        ({"queueing_lock": "k", "debounce": True}, "debounce must be a number of seconds"),
        ({"queueing_lock": "k", "debounce": 1, "schedule_in": {"seconds": 5}}, "schedule"),
        ({"queueing_lock": "k", "throttle": 1, "after": [1]}, "after"),
    ],
)
async def test_bad_options_are_refused_before_anything_is_written(
    app: procrastinate.App, db: psycopg.Connection, options: dict[str, Any], message: str
) -> None:
    @app.task(name="t")
    async def t() -> None:
        pass

    with pytest.raises(ValueError, match=message):
        t.configure(**options)
    assert db.execute("select count(*) as n from procrastinate_jobs").fetchone()["n"] == 0


async def test_bad_job_objects_are_refused_by_the_database(
    app: procrastinate.App, db: psycopg.Connection
) -> None:
    with pytest.raises(exceptions.InvalidJobDefinition, match="both debounce and throttle"):
        await app.job_manager.defer_job_objects_async(
            [{"task_name": "t", "queueing_lock": "k", "debounce": 1, "throttle": 1}]
        )
    assert db.execute("select count(*) as n from procrastinate_jobs").fetchone()["n"] == 0
