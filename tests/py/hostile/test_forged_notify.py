"""A NOTIFY forged by another role on our channel cannot abort, crash or
stall a worker: notifications are hints, the database confirms aborts."""

from __future__ import annotations

import asyncio
import json
import uuid

import psycopg
import pytest

from procrastinate import jobs


@pytest.fixture
def forger_dsn(db, db_dsn):
    """A LOGIN role with no privilege at all on our tables."""
    role = f"forger_{uuid.uuid4().hex[:8]}"
    db.execute(f"create role {role} login")
    yield f"{db_dsn} user={role}"
    db.execute(f"drop owned by {role}")
    db.execute(f"drop role {role}")


def _payloads(job_id: int) -> list[str]:
    shapes = [
        None, 42, "text", [1, 2], {}, {"type": None}, {"type": 42}, {"type": "unknown"},
        {"type": "job_available"}, {"type": "job_available", "queues": 5},
        {"type": "job_available", "queues": "default"},
        {"type": "job_available", "queues": [[1], {"a": 1}, None]},
        {"type": "abort_requested"}, {"type": "abort_requested", "job_ids": "x"},
        {"type": "abort_requested", "job_ids": job_id},
        {"type": "abort_requested", "job_ids": [[job_id]]},
        {"type": "abort_requested", "job_ids": [{"id": job_id}, None, "1", 1.5]},
        # The job the worker runs, whose abort nobody requested:
        {"type": "abort_requested", "job_ids": [job_id]},
        {"type": "abort_requested", "job_ids": [job_id], "abort": True, "force": True},
    ]
    texts = [json.dumps(shape) for shape in shapes]
    return [*texts, "", "not json at all", "{", "\\x00", "é" * 3000, "[" * 5000]


async def test_forged_notifications_do_not_abort_crash_or_stall(app, db, forger_dsn):
    started = asyncio.Event()
    release = asyncio.Event()

    @app.task(name="long")
    async def long() -> str:
        started.set()
        await release.wait()
        return "done"

    @app.task(name="quick")
    async def quick() -> str:
        return "quick"

    job_id = await app.tasks["long"].defer_async()
    worker = asyncio.create_task(
        app.run_worker_async(
            install_signal_handlers=False,
            abort_job_polling_interval=3600,  # only notifications trigger checks
            fetch_job_polling_interval=3600,  # and wake the fetch loop
            concurrency=2,
        )
    )
    try:
        await asyncio.wait_for(started.wait(), 10)
        async with await psycopg.AsyncConnection.connect(forger_dsn, autocommit=True) as forger:
            for payload in _payloads(job_id):
                await forger.execute("select pg_notify('procrastinate', %s)", [payload])
        await asyncio.sleep(1.0)
        assert not worker.done()
        # Not aborted: the abort was never requested in the database.
        status = await app.job_manager.get_job_status_async(job_id)
        assert status == jobs.Status.DOING
        release.set()
        # Not stalled: a new job is fetched at once (its notification).
        quick_id = await app.tasks["quick"].defer_async()
        for _ in range(100):
            if (await app.job_manager.get_job_status_async(quick_id)) == jobs.Status.SUCCEEDED:
                break
            await asyncio.sleep(0.05)
        assert (await app.job_manager.get_job_status_async(quick_id)) == jobs.Status.SUCCEEDED
        assert (await app.job_manager.get_job_status_async(job_id)) == jobs.Status.SUCCEEDED
        row = db.execute(
            "select abort_requested from procrastinate_jobs where id = %s", [job_id]
        ).fetchone()
        assert row == {"abort_requested": False}
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
        release.set()


async def test_a_real_abort_request_still_works(app):
    started = asyncio.Event()

    @app.task(name="endless")
    async def endless() -> None:
        started.set()
        await asyncio.sleep(3600)

    job_id = await app.tasks["endless"].defer_async()
    worker = asyncio.create_task(
        app.run_worker_async(
            install_signal_handlers=False, abort_job_polling_interval=3600, wait=False
        )
    )
    await asyncio.wait_for(started.wait(), 10)
    assert await app.job_manager.cancel_job_by_id_async(job_id, abort=True)
    await asyncio.wait_for(worker, 10)
    assert (await app.job_manager.get_job_status_async(job_id)) == jobs.Status.ABORTED

