"""The worker's lease (issue 14): the heartbeat beats from a thread of its
own, so that a task blocking the event loop does not cost the worker its
jobs (and the block is named in the log); a side part that dies (the
periodic deferrer, the heartbeat thread) stops the worker with the reason; a
failed fetch does not make the worker wait a whole polling interval once the
database is back."""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg
import psycopg.rows
import pytest

from procrastinate import exceptions
from procrastinate.worker import heartbeat as worker_heartbeat
from procrastinate.worker import periodic_deferrer

from worker_helpers import Running, finish, job_row, statuses


async def test_a_task_blocking_the_loop_does_not_cost_the_lease(app, db_dsn, db, caplog):
    rescued_meanwhile = []

    @app.task(name="blocker")
    async def blocker():
        # Blocks the event loop for longer than the worker's lease (1 s),
        # then, still blocking it, asks the database to rescue what it can:
        # had the heartbeat stopped with the loop, this job would be taken.
        time.sleep(1.6)
        with psycopg.connect(db_dsn, autocommit=True, row_factory=psycopg.rows.dict_row) as c:
            rescued_meanwhile.extend(
                c.execute("select * from procrastinate_rescue_stalled_jobs_v2(null)").fetchall()
            )

    job_id = await blocker.defer_async()
    caplog.set_level(logging.WARNING)
    running = Running(
        app, update_heartbeat_interval=0.2, stalled_worker_timeout=1.0, wait=False
    )
    await finish(running.task, running.worker)

    assert rescued_meanwhile == []
    assert statuses(db) == [(job_id, "succeeded")]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "The event loop has not answered" in m and f"task blocker (job {job_id})" in m
        for m in warnings
    ), warnings
    assert not any("No successful database call" in m for m in warnings), warnings


async def test_a_failing_periodic_deferrer_stops_the_worker(app, monkeypatch):
    async def broken(self):
        raise RuntimeError("the next tick cannot be computed")

    monkeypatch.setattr(periodic_deferrer.PeriodicDeferrer, "run", broken)
    with pytest.raises(RuntimeError, match="the next tick cannot be computed"):
        # wait=True: only the failure can end this worker
        await asyncio.wait_for(
            app.run_worker_async(install_signal_handlers=False), timeout=30
        )


async def test_a_heartbeat_thread_that_dies_stops_the_worker(app, monkeypatch):
    def broken(self):
        raise RuntimeError("the heartbeat broke")

    monkeypatch.setattr(worker_heartbeat.HeartbeatThread, "_beat", broken)
    with pytest.raises(RuntimeError, match="the heartbeat broke"):
        await asyncio.wait_for(
            app.run_worker_async(install_signal_handlers=False, update_heartbeat_interval=0.1),
            timeout=30,
        )


async def test_after_a_failed_fetch_the_worker_fetches_once_the_database_answers(
    app, db, monkeypatch
):
    manager = app.job_manager
    real_fetch = manager.fetch_jobs_async
    failed = []

    async def fetch(*args, **kwargs):
        if not failed:
            failed.append(1)
            raise exceptions.ConnectorException("connection lost (simulated)")
        return await real_fetch(*args, **kwargs)

    monkeypatch.setattr(manager, "fetch_jobs_async", fetch)
    done = asyncio.Event()

    @app.task(name="waiting")
    def waiting():
        done.set()

    await waiting.defer_async()
    # A polling interval far longer than the test's deadline: only the
    # heartbeat finding the database back can wake the producer in time.
    running = Running(app, fetch_job_polling_interval=600, update_heartbeat_interval=0.2)
    try:
        await asyncio.wait_for(done.wait(), timeout=30)
    finally:
        await running.stop()
    assert failed == [1]


async def test_a_fenced_worker_stops_its_jobs_and_they_go_back_to_the_queue(app, db, caplog):
    """The fence (worker.health) fired as it does when the lease is about
    to run out: the running job is cancelled, reported as interrupted and
    queued again (not failed, not aborted: the job did nothing wrong); the
    next heartbeat lifts the fence and the job runs again."""
    started, runs = asyncio.Event(), []

    @app.task(name="long", pass_context=True)
    async def long(context):
        runs.append(context.job.attempts)
        if context.job.attempts == 0:
            started.set()
            await asyncio.sleep(3600)

    job_id = await long.defer_async()
    running = Running(app, update_heartbeat_interval=0.2)
    try:
        await asyncio.wait_for(started.wait(), 30)
        running.worker.health._fence()
        assert running.worker.health.lease.fenced
        while job_row(db, job_id)["status"] != "succeeded":
            await asyncio.sleep(0.05)
    finally:
        await running.stop()
    row = job_row(db, job_id)
    assert runs == [0, 1]
    assert (row["attempts"], row["rescue_count"]) == (2, 0)
    events = [
        e["type"] for e in db.execute(
            "select type::text from procrastinate_events where job_id = %s order by id",
            [job_id],
        )
    ]
    assert events == [
        "deferred", "started", "scheduled", "deferred_for_retry", "started", "succeeded"
    ], events
    messages = [r.getMessage() for r in caplog.records]
    assert any("stopping its 1 running job(s) now" in m for m in messages), messages
    assert any("Lease renewed: fetching jobs again" in m for m in messages), messages
