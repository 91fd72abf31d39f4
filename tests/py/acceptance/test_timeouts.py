"""Job timeouts (docs/flow-control.md, Timeouts), against a real database:
a task's ``timeout`` and a job's own (``configure(timeout=...)``) reach the
database with the job; a worker stops an async job (cancelled) and a sync
one (JobTimeout raised in its thread) at its deadline, and the run fails
with JobTimeout, retried by the job's policy; bad timeouts are refused."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import Any

import psycopg
import pytest

import procrastinate
from procrastinate import exceptions
from procrastinate.worker.threads import Interruptible, run_in_thread

from polling import poll
from worker_helpers import Running, job_row, one_shot

TIMED_OUT = "procrastinate.exceptions.JobTimeout"


def runs(db: psycopg.Connection, job_id: int) -> list[str]:
    """The job's events that start or end a run, in order."""
    rows = db.execute(
        "select type::text as type from procrastinate_events "
        "where job_id = %s and type in ('started', 'failed', 'deferred_for_retry') order by id",
        [job_id],
    ).fetchall()
    return [row["type"] for row in rows]


async def test_a_timed_out_async_job_fails_with_job_timeout_and_is_retried(
    app: procrastinate.App, db: psycopg.Connection
) -> None:
    @app.task(name="hangs_async", timeout=0.3, retry=1)
    async def hangs_async() -> None:
        await asyncio.sleep(60)

    job_id = await hangs_async.defer_async()
    started = time.monotonic()
    await one_shot(app, concurrency=1)
    elapsed = time.monotonic() - started

    row = job_row(db, job_id)
    assert row["status"] == "failed"
    assert row["attempts"] == 2  # the first run, and its retry
    assert row["last_error_types"][0] == TIMED_OUT
    assert "ran past its deadline (timeout of 0.3 s)" in row["last_error"]
    assert runs(db, job_id) == ["started", "deferred_for_retry", "started", "failed"]
    assert elapsed < 10  # cancelled at its deadline, never slept its 60 s


async def test_a_timed_out_sync_job_is_interrupted_in_its_thread_and_retried(
    app: procrastinate.App, db: psycopg.Connection
) -> None:
    left: list[str] = []  # how each run left the function

    @app.task(name="hangs_sync", timeout=0.3, retry=1)
    def hangs_sync() -> None:
        try:
            while True:
                time.sleep(0.01)
        except BaseException as exc:
            left.append(type(exc).__name__)
            raise

    job_id = await hangs_sync.defer_async()
    await one_shot(app, concurrency=1)

    row = job_row(db, job_id)
    assert row["status"] == "failed"
    assert row["attempts"] == 2
    assert row["last_error_types"][0] == TIMED_OUT
    assert runs(db, job_id) == ["started", "deferred_for_retry", "started", "failed"]
    # the exception reached the function's code, in its thread, each time
    assert left == ["JobTimeout", "JobTimeout"]


async def test_a_jobs_own_timeout_beats_its_tasks(
    app: procrastinate.App, db: psycopg.Connection
) -> None:
    @app.task(name="patient", timeout=60)
    async def patient() -> None:
        await asyncio.sleep(30)

    default_id = await patient.configure(queue="not_run").defer_async()
    own_id = await patient.configure(timeout=0.2).defer_async()
    assert job_row(db, default_id)["timeout"] == 60
    assert job_row(db, own_id)["timeout"] == 0.2

    started = time.monotonic()
    await one_shot(app, concurrency=1, queues=["default"])
    assert time.monotonic() - started < 10
    row = job_row(db, own_id)
    assert (row["status"], row["last_error_types"][0]) == ("failed", TIMED_OUT)


async def test_a_job_within_its_timeout_succeeds(
    app: procrastinate.App, db: psycopg.Connection
) -> None:
    @app.task(name="quick_sync", timeout=30)
    def quick_sync() -> int:
        return 1

    @app.task(name="quick_async", timeout=30)
    async def quick_async() -> int:
        return 2

    ids = [await quick_sync.defer_async() for _ in range(20)]
    ids += [await quick_async.defer_async() for _ in range(20)]
    await one_shot(app, concurrency=4)
    assert {job_row(db, job_id)["status"] for job_id in ids} == {"succeeded"}


async def test_the_tasks_timeout_applies_to_a_job_deferred_from_sql_without_one(
    app: procrastinate.App, db: psycopg.Connection
) -> None:
    @app.task(name="from_sql", timeout=0.2)
    async def from_sql() -> None:
        await asyncio.sleep(30)

    job_id = db.execute("select procrastinate_defer_job('from_sql') as id").fetchone()["id"]
    await one_shot(app, concurrency=1)
    row = job_row(db, job_id)
    assert row["timeout"] is None  # the database does not know it: the worker only
    assert (row["status"], row["last_error_types"][0]) == ("failed", TIMED_OUT)


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, 1e10, "10", True, [1]])
async def test_a_bad_timeout_is_refused_before_anything_is_written(
    app: procrastinate.App, db: psycopg.Connection, bad: Any
) -> None:
    with pytest.raises(ValueError, match=r"the timeout of task 'bad' must be a number of seconds"):

        @app.task(name="bad", timeout=bad)
        def bad_task() -> None:
            pass

    @app.task(name="good")
    def good() -> None:
        pass

    with pytest.raises(ValueError, match=r"the timeout of a job of task 'good' must be"):
        await good.configure(timeout=bad).defer_async()
    assert db.execute("select count(*) as n from procrastinate_jobs").fetchone()["n"] == 0


async def test_a_bad_timeout_sent_to_sql_is_pt001(
    app: procrastinate.App, db: psycopg.Connection
) -> None:
    with pytest.raises(psycopg.Error, match="has a timeout that is not") as raised:
        db.execute("""select procrastinate_defer_jobs('[{"task_name": "x", "timeout": 0}]')""")
    assert raised.value.sqlstate == "PT001"
    assert db.execute("select count(*) as n from procrastinate_jobs").fetchone()["n"] == 0


# --- the thread's interruption ----------------------------------------------------


async def test_an_interruption_reaches_the_function_only_while_it_runs() -> None:
    finished = Interruptible()
    assert await run_in_thread(lambda: 1, "t", interruptible=finished) == 1
    assert not finished.interrupt(exceptions.JobTimeout)  # ended: left alone

    released = threading.Event()
    running = Interruptible()

    def spin() -> None:
        released.set()
        while True:
            time.sleep(0.001)

    waiting = asyncio.ensure_future(run_in_thread(spin, "t", interruptible=running))
    await asyncio.get_running_loop().run_in_executor(None, released.wait, 10)
    assert running.interrupt(exceptions.JobTimeout)
    assert not running.interrupt(exceptions.JobTimeout)  # at most once
    with pytest.raises(exceptions.JobTimeout):
        await waiting

    # the pool's threads keep serving: nothing pending was left in them
    assert await asyncio.gather(*(run_in_thread(lambda: 2, "t") for _ in range(8))) == [2] * 8


async def test_a_function_interrupted_before_it_started_never_runs() -> None:
    ran: list[int] = []
    early = Interruptible()
    assert not early.interrupt(exceptions.JobTimeout)  # not started: the caller stops waiting
    assert not early.start()
    waiting = asyncio.ensure_future(run_in_thread(lambda: ran.append(1), "t", interruptible=early))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await run_in_thread(lambda: 3, "t") == 3  # the pool went on: the early one was skipped
    assert ran == []


# --- a hung worker ----------------------------------------------------------------


async def test_a_live_workers_rescue_takes_back_a_hung_workers_job_after_its_deadline(
    app: procrastinate.App, db: psycopg.Connection
) -> None:
    # A worker that claimed through SQL and hangs: its lease (600 s) stays
    # alive, it never reports. A real worker, serving other queues, rescues
    # on its heartbeat: the job comes back once past its deadline and the
    # grace (10 s), not after the hung worker's lease.
    @app.task(name="stuck_job", retry=3)
    async def stuck_job() -> None:
        pass

    job_id = await stuck_job.configure(queue="hung", timeout=0.5).defer_async()
    hung = db.execute(
        "select procrastinate_register_worker_v2('hung', null, 1, 'h', 1, 600) as id"
    ).fetchone()["id"]
    claimed = db.execute(
        "select id, deadline from procrastinate_fetch_jobs_v5(%s, '{hung}', 1)", [hung]
    ).fetchall()
    assert [row["id"] for row in claimed] == [job_id] and claimed[0]["deadline"] is not None

    started = time.monotonic()
    running = Running(app, queues=["elsewhere"], update_heartbeat_interval=0.5)
    try:
        row = await poll(
            lambda: (r := job_row(db, job_id))["status"] == "todo" and r,
            "the rescue to take the job back",
        )
    finally:
        await running.stop()
    elapsed = time.monotonic() - started
    assert row["last_error_types"] == [TIMED_OUT]
    assert (row["attempts"], row["rescue_count"], row["worker_id"]) == (1, 1, None)
    assert 8 < elapsed < 60  # after the grace, long before the 600 s lease
    alive = db.execute(
        "select alive from procrastinate_worker_stats where id = %s", [hung]
    ).fetchone()
    assert alive == {"alive": True}
    late = db.execute(
        "select accepted, reason from procrastinate_finish_jobs_v1(%s, %s::jsonb)",
        [hung, f'[{{"id": {job_id}, "attempt": 0, "status": "succeeded"}}]'],
    ).fetchone()
    assert late == {"accepted": False, "reason": "not_held"}


async def test_a_job_with_a_timeout_is_never_claimed_ahead_into_the_buffer(
    app: procrastinate.App, db: psycopg.Connection
) -> None:
    ran: list[str] = []
    release = threading.Event()

    @app.task(name="quick")
    def quick() -> None:
        pass

    @app.task(name="blocker")
    def blocker() -> None:
        release.wait(30)

    @app.task(name="short_lived")
    def short_lived() -> None:
        ran.append("short_lived")

    running = Running(app, concurrency=1, prefetch=10)
    try:
        # short jobs first: the worker then claims ahead of its one slot
        quick_ids = [await quick.defer_async() for _ in range(5)]
        await poll(
            lambda: {job_row(db, i)["status"] for i in quick_ids} == {"succeeded"},
            "the short jobs to run",
        )
        # one claim could take both; the job with a timeout would wait in
        # the buffer behind the blocker, its deadline running: it is left
        ids = db.execute(
            """select procrastinate_defer_jobs('[{"task_name": "blocker"},
               {"task_name": "short_lived", "timeout": 0.5}]') as id"""
        ).fetchall()
        blocker_id, timed_id = ids[0]["id"], ids[1]["id"]
        await poll(lambda: job_row(db, blocker_id)["status"] == "doing", "the blocker to run")
        # claims ahead go on while the blocker runs (its one slot is busy)
        await quick.defer_async()
        await poll(
            lambda: db.execute(
                "select count(*) as n from procrastinate_jobs "
                "where task_name = 'quick' and status = 'doing'"
            ).fetchone()["n"]
            == 1,
            "the next short job to be claimed ahead",
        )
        assert job_row(db, timed_id)["status"] == "todo"
        release.set()
        row = await poll(
            lambda: (r := job_row(db, timed_id))["status"] == "succeeded" and r,
            "the job with a timeout to run",
        )
    finally:
        release.set()
        await running.stop()
    assert row["attempts"] == 1
    assert ran == ["short_lived"]
