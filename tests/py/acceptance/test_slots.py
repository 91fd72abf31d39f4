"""The worker's slots (worker.slots), in-process, against a real database:
jobs run one after another in long-lived tasks, yet each job sees what a task
of its own would give it (contextvars, current task, cancellation)."""

from __future__ import annotations

import asyncio
import contextvars
import sys

import pytest

from worker_helpers import TIMEOUT, Running, job_row, one_shot, statuses, wait_for

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")

#: asyncio.timeout and Task.cancelling came with Python 3.11.
needs_311 = pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout: 3.11+")


async def test_a_contextvar_a_job_sets_does_not_reach_the_next_job(app, db):
    seen = []

    @app.task(name="set_var")
    async def set_var():
        seen.append(VAR.get())
        VAR.set("set by a job")

    @app.task(name="set_var_sync")
    def set_var_sync():
        seen.append(VAR.get())
        VAR.set("set by a sync job")

    for _ in range(2):
        await set_var.defer_async()
        await set_var_sync.defer_async()
    token = VAR.set("the worker's")
    try:
        await one_shot(app, concurrency=1)  # one slot runs the four jobs
    finally:
        VAR.reset(token)

    # Each job starts from the context the worker was started in.
    assert seen == ["the worker's"] * 4
    assert [status for _, status in statuses(db)] == ["succeeded"] * 4


@needs_311
async def test_asyncio_timeout_in_a_job_fails_that_job_only(app, db):
    seen = []

    @app.task(name="times_out")
    async def times_out():
        async with asyncio.timeout(0.05):
            await asyncio.sleep(TIMEOUT)

    @app.task(name="after")
    async def after():
        await asyncio.sleep(0.01)
        seen.append(asyncio.current_task().cancelling())

    failing = await times_out.defer_async()
    following = await after.defer_async()
    await one_shot(app, concurrency=1)

    assert job_row(db, failing)["status"] == "failed"
    assert "TimeoutError" in job_row(db, failing)["last_error"]
    assert job_row(db, following)["status"] == "succeeded"
    assert seen == [0]


@needs_311
async def test_an_abort_the_job_swallows_does_not_reach_the_next_job(app, db):
    started = asyncio.Event()
    seen = []

    @app.task(name="stubborn")
    async def stubborn():
        started.set()
        try:
            await asyncio.sleep(TIMEOUT)
        except asyncio.CancelledError:
            pass  # swallowed: the job ends normally

    @app.task(name="next_one")
    async def next_one():
        # A cancel left pending on the slot would fail this job.
        async with asyncio.timeout(TIMEOUT):
            await asyncio.sleep(0.01)
        seen.append(asyncio.current_task().cancelling())

    running = Running(app, concurrency=1, fetch_job_polling_interval=0.05)
    first = await stubborn.defer_async()
    await asyncio.wait_for(started.wait(), TIMEOUT)
    second = await next_one.defer_async()
    assert await app.job_manager.cancel_job_by_id_async(first, abort=True)
    await wait_for(lambda: job_row(db, second)["status"] == "succeeded", "the next job")
    await running.stop()

    assert seen == [0]


async def test_jobs_that_never_wait_keep_to_one_slot(app, db):
    @app.task(name="noop")
    async def noop(i: int) -> None:
        return None

    await noop.batch_defer_async(*({"i": i} for i in range(200)))
    running = Running(app, concurrency=10, fetch_job_polling_interval=0.05)
    await wait_for(
        lambda: statuses(db) and all(s == "succeeded" for _, s in statuses(db)),
        "every job done",
    )
    slots = len(running.worker.slots._tasks)
    await running.stop()

    # A slot wakes another only when its job waits: these never do.
    assert slots == 1


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_no_more_jobs_at_once_than_the_concurrency(app, db, concurrency):
    now = most = 0

    @app.task(name="pause")
    async def pause() -> None:
        nonlocal now, most
        now += 1
        most = max(most, now)
        await asyncio.sleep(0.01)
        now -= 1

    await pause.batch_defer_async(*({} for _ in range(20)))
    await one_shot(app, concurrency=concurrency)

    assert most == concurrency
    assert [status for _, status in statuses(db)] == ["succeeded"] * 20
