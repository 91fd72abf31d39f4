"""The worker-facing JobManager calls (fetch, finish, workers, abort, LISTEN),
against a real database."""

from __future__ import annotations

import asyncio
import datetime
import os
import socket

import psycopg
import pytest

from procrastinate import RetryStrategy, exceptions, jobs, retry
from procrastinate._db import wire

from polling import poll, server_is_older_than

UTC = datetime.timezone.utc


async def test_register_heartbeat_unregister(app, db):
    jm = app.job_manager
    worker_id = await jm.register_worker_async("w1", ["a", "b"], 4)
    row = db.execute(
        "select * from procrastinate_workers where id = %s", [worker_id]
    ).fetchone()
    assert (
        row["name"],
        row["queues"],
        row["concurrency"],
        row["host"],
        row["pid"],
    ) == (
        "w1",
        ["a", "b"],
        4,
        socket.gethostname(),
        os.getpid(),
    )
    assert await jm.heartbeat_async(worker_id) == 30.0  # the setting's lease
    await app.configure_task("t").defer_async()
    await jm.fetch_jobs_async(worker_id, None, 1)
    assert await jm.unregister_worker_async(worker_id) == 1  # its job went back
    assert await jm.heartbeat_async(worker_id) is None
    (job,) = await jm.list_jobs_async()
    assert (job.status, job.attempts, job.worker_id) == ("todo", 1, None)
    all_queues = await jm.register_worker_async("w2", None, 1)
    assert (
        db.execute(
            "select queues from procrastinate_workers where id = %s", [all_queues]
        ).fetchone()["queues"]
        is None
    )


async def test_fetch_jobs(app):
    jm = app.job_manager
    worker_id = await jm.register_worker_async("w", None, 3)
    low = await app.configure_task("t", queue="a", priority=0).defer_async(x=1)
    high = await app.configure_task("t", queue="b", priority=5).defer_async(x=2)
    other = await app.configure_task("t", queue="c").defer_async(x=3)
    later = await app.configure_task(
        "t", queue="a", schedule_in={"hours": 1}
    ).defer_async()
    fetched = await jm.fetch_jobs_async(worker_id, ["a", "b"], 10)
    assert [job.id for job in fetched] == [high, low]
    assert fetched[0] == jobs.Job(
        id=high,
        status="doing",
        queue="b",
        priority=5,
        lock=None,
        queueing_lock=None,
        task_name="t",
        task_kwargs={"x": 2},
        worker_id=worker_id,
    )
    assert await jm.fetch_jobs_async(worker_id, ["a"], 10) == []
    assert [job.id for job in await jm.fetch_jobs_async(None, None, 10)] == [other]
    assert later not in [job.id for job in await jm.list_jobs_async(status="doing")]
    with pytest.raises(exceptions.InvalidJobDefinition):
        await jm.fetch_jobs_async(worker_id, None, 0)


async def test_finish_success_failure_and_policy_retry(app, db):
    @app.task(
        name="flaky",
        retry=RetryStrategy(max_attempts=2, wait=10, retry_exceptions=[LookupError]),
    )
    def flaky():
        pass

    jm = app.job_manager
    worker_id = await jm.register_worker_async("w", None, 2)
    ok_id, flaky_id = await flaky.defer_async(), await flaky.defer_async()
    ok, bad = await jm.fetch_jobs_async(worker_id, None, 2)
    results = await jm.finish_jobs_async(
        worker_id,
        [
            wire.build_outcome(ok, jobs.Status.SUCCEEDED),
            wire.build_outcome(bad, "failed", exception=KeyError("missing")),
        ],
        jobs.DeleteJobCondition.NEVER,
    )
    assert [
        (r["job_id"], r["accepted"], r["status"], r["reason"]) for r in results
    ] == [
        (ok_id, True, "succeeded", None),
        (flaky_id, True, "todo", None),
    ]
    # The policy's 10 s, from the finish's own clock (its event's time).
    finished_at = db.execute(
        "select at from procrastinate_events where job_id = %s and type = 'deferred_for_retry'",
        [flaky_id],
    ).fetchone()["at"]
    assert results[1]["scheduled_at"] - finished_at == datetime.timedelta(seconds=10)
    (job,) = await jm.list_jobs_async(id=flaky_id)
    assert (job.attempts, job.status) == (1, "todo")


async def test_failure_not_matching_retry_exceptions(app):
    @app.task(
        name="picky", retry=RetryStrategy(max_attempts=5, retry_exceptions=[KeyError])
    )
    def picky():
        pass

    jm = app.job_manager
    await picky.defer_async()
    (job,) = await jm.fetch_jobs_async(None, None, 1)
    (result,) = await jm.finish_jobs_async(
        None, [wire.build_outcome(job, "failed", exception=ValueError("no"))]
    )
    assert result["status"] == "failed"
    (stored,) = await jm.list_jobs_async(id=job.id)
    assert stored.status == "failed"


async def test_explicit_decisions(app, db):
    jm = app.job_manager
    first = await app.configure_task("t").defer_async()
    second = await app.configure_task("t").defer_async()
    one, two = await jm.fetch_jobs_async(None, None, 2)
    at = datetime.datetime(2033, 3, 3, tzinfo=UTC)
    decision = retry.RetryDecision(
        retry_at=at, priority=9, queue="elsewhere", lock="lk"
    )
    results = await jm.finish_jobs_async(
        None,
        [
            wire.build_outcome(
                one,
                "failed",
                exception=RuntimeError("x"),
                retry_decision=retry.retry_decision_to_outcome(decision),
            ),
            wire.build_outcome(
                two,
                "failed",
                exception=RuntimeError("y"),
                retry_decision=retry.retry_decision_to_outcome(None),
            ),
        ],
    )
    assert [(r["status"], r["scheduled_at"]) for r in results] == [
        ("todo", at),
        ("failed", None),
    ]
    (retried,) = await jm.list_jobs_async(id=first)
    assert (retried.priority, retried.queue, retried.lock) == (9, "elsewhere", "lk")
    row = db.execute(
        "select last_error, last_error_types from procrastinate_jobs where id = %s",
        [second],
    ).fetchone()
    assert row["last_error"] == "RuntimeError: y"
    assert row["last_error_types"] == ["RuntimeError", "Exception", "BaseException"]


async def test_finish_is_fenced(app):
    jm = app.job_manager
    worker_id = await jm.register_worker_async("w", None, 1)
    await app.configure_task("t").defer_async()
    (job,) = await jm.fetch_jobs_async(worker_id, None, 1)
    stale = wire.build_outcome(job.evolve(attempts=5), "succeeded")
    wrong_worker = wire.build_outcome(job, "succeeded")
    results = await jm.finish_jobs_async(worker_id, [stale])
    assert (results[0]["accepted"], results[0]["reason"]) == (False, "not_held")
    results = await jm.finish_jobs_async(worker_id + 1, [wrong_worker])
    assert results[0]["accepted"] is False
    missing = wire.build_outcome(job.evolve(id=999), "succeeded")
    assert (await jm.finish_jobs_async(worker_id, [missing]))[0][
        "reason"
    ] == "not_found"
    assert await jm.finish_jobs_async(worker_id, []) == []
    with pytest.raises(exceptions.InvalidOutcome):
        await jm.finish_jobs_async(worker_id, [{"id": "x", "status": "succeeded"}])


@pytest.mark.parametrize(
    ("delete_jobs", "remaining"),
    [("never", 2), (jobs.DeleteJobCondition.SUCCESSFUL, 1), ("always", 0), (None, 2)],
)
async def test_finish_delete_jobs(app, delete_jobs, remaining):
    jm = app.job_manager
    for _ in range(2):
        await app.configure_task("t").defer_async()
    ok, bad = await jm.fetch_jobs_async(None, None, 2)
    await jm.finish_jobs_async(
        None,
        [
            wire.build_outcome(ok, "succeeded"),
            wire.build_outcome(bad, "failed", exception=ValueError()),
        ],
        delete_jobs,
    )
    assert len(await jm.list_jobs_async()) == remaining


async def test_jobs_to_abort(app):
    jm = app.job_manager
    worker_id = await jm.register_worker_async("w", None, 2)
    for _ in range(2):
        await app.configure_task("t").defer_async()
    first, second = await jm.fetch_jobs_async(worker_id, None, 2)
    assert await jm.jobs_to_abort_async(worker_id) == []
    await jm.cancel_job_by_id_async(second.id, abort=True)
    assert await jm.jobs_to_abort_async(worker_id) == [second.id]
    (result,) = await jm.finish_jobs_async(
        worker_id, [wire.build_outcome(second, "aborted")]
    )
    assert result["status"] == "aborted"
    assert await jm.jobs_to_abort_async(worker_id) == []


async def test_rescue_stalled_jobs(app, db):
    """The database decides: each holder's lease (2 s here), the rescuer's
    right to rescue; an operator rescues without a worker id."""
    jm = app.job_manager
    dead = await jm.register_worker_async("dead", None, 1, stalled_after=2)
    live = await jm.register_worker_async("live", None, 1)
    job_id = await app.configure_task("t").defer_async()
    await jm.fetch_jobs_async(dead, None, 1)
    assert await jm.rescue_stalled_jobs_async(live) == []
    db.execute(
        "update procrastinate_workers set last_heartbeat = now() - interval '3 seconds'"
        " where id = %s",
        [dead],
    )
    await poll(lambda: server_is_older_than(db, 2), "the server to be older than the lease")
    assert await jm.rescue_stalled_jobs_async(live) == [{"job_id": job_id, "status": "todo"}]
    # A trusted session (this test's superuser) may rescue with no worker id.
    assert await jm.rescue_stalled_jobs_async(None) == []


async def next_notifications(received: asyncio.Queue, count: int) -> list:
    return [await asyncio.wait_for(received.get(), 10) for _ in range(count)]


async def test_listen_for_jobs(app, db_dsn):
    received, listening = asyncio.Queue(), asyncio.Event()
    jm = app.job_manager

    async def on_notification(payload):
        received.put_nowait(payload)

    listener = asyncio.ensure_future(
        jm.listen_for_jobs_async(on_notification, on_listening=listening.set)
    )
    try:
        await asyncio.wait_for(listening.wait(), 5)
        job_id = await app.configure_task("t", queue="mail").defer_async()
        await app.configure_task("t", schedule_in={"hours": 1}).defer_async()  # not now
        with psycopg.connect(db_dsn, autocommit=True) as connection:
            connection.execute("notify procrastinate, 'not json'")
            connection.execute("notify procrastinate, '[1, 2]'")
            connection.execute("notify some_other_channel, '{}'")
        await jm.fetch_jobs_async(None, None, 1)
        await jm.cancel_job_by_id_async(job_id, abort=True)
        # Notifications arrive in order: none skipped between these two.
        assert await next_notifications(received, 2) == [
            {"type": "job_available", "queues": ["mail"]},
            {"type": "abort_requested", "job_ids": [job_id]},
        ]
    finally:
        listener.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listener
    assert received.empty()


async def test_listen_with_a_sync_callback(app):
    received, listening = asyncio.Queue(), asyncio.Event()
    listener = asyncio.ensure_future(
        app.job_manager.listen_for_jobs_async(
            received.put_nowait, on_listening=listening.set
        )
    )
    try:
        await asyncio.wait_for(listening.wait(), 5)
        await app.configure_task("t").defer_async()
        assert await next_notifications(received, 1) == [
            {"type": "job_available", "queues": ["default"]}
        ]
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)


async def test_listen_reconnects(app, db_dsn):
    """Killing the listening connection: the listener comes back and says so."""
    listened = asyncio.Queue()
    received = asyncio.Queue()
    listener = asyncio.ensure_future(
        app.job_manager.listen_for_jobs_async(
            received.put_nowait, on_listening=lambda: listened.put_nowait(True)
        )
    )
    try:
        await asyncio.wait_for(listened.get(), 5)
        with psycopg.connect(db_dsn, autocommit=True) as connection:
            connection.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where query = 'listen \"procrastinate\"' and pid <> pg_backend_pid()"
                " and datname = current_database()"
            )
        import procrastinate.psycopg_connector as module

        await asyncio.wait_for(listened.get(), 10 + module.MAX_RECONNECT_DELAY)
        await app.configure_task("t").defer_async()
        assert await next_notifications(received, 1) == [
            {"type": "job_available", "queues": ["default"]}
        ]
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    assert received.empty()


async def test_defer_periodic_job(app):
    task = app.configure_task("tick")
    job = task.make_new_job(timestamp=1000)
    first = await app.job_manager.defer_periodic_job(job, "p", 1000)
    again = await app.job_manager.defer_periodic_job(job, "p", 1000)
    assert first == 1 and again is None
    with pytest.raises(exceptions.InvalidTimestamp):
        await app.job_manager.defer_periodic_job(job, "p", 2000)
    assert await app.job_manager.last_periodic_ticks_async() == [
        {"task_name": "tick", "periodic_id": "p", "defer_timestamp": 1000}
    ]
