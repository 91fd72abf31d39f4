"""Helpers of the in-process worker tests (test_worker, test_prefetch): a
real database read through ``db``, workers run in asyncio tasks."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

import procrastinate
from procrastinate import worker

from polling import TIMEOUT
from polling import poll as wait_for  # noqa: F401 (the acceptance tests' name)


def statuses(db: psycopg.Connection) -> list[tuple[int, str]]:
    rows = db.execute(
        "select id, status::text as status from procrastinate_jobs order by id"
    ).fetchall()
    return [(row["id"], row["status"]) for row in rows]


def job_row(db: psycopg.Connection, job_id: int) -> dict[str, Any]:
    row = db.execute(
        "select *, status::text as status from procrastinate_jobs where id = %s", [job_id]
    ).fetchone()
    assert row is not None
    return row


async def finish(task: asyncio.Task[Any], worker_: worker.Worker | None = None) -> None:
    """Wait for a worker's task; a worker that does not end in time is
    stopped at once and the test fails (never hangs)."""
    done, _ = await asyncio.wait({task}, timeout=TIMEOUT)
    if not done:
        if worker_ is not None:
            worker_.stop_now()
        else:
            task.cancel()  # graceful first...
            await asyncio.wait({task}, timeout=1)
            task.cancel()  # ...then at once
        await asyncio.wait({task}, timeout=5)
        raise AssertionError("the worker did not stop in time")
    task.result()


async def one_shot(app: procrastinate.App, **options: Any) -> None:
    options.setdefault("install_signal_handlers", False)
    await finish(asyncio.create_task(app.run_worker_async(wait=False, **options)))


class Running:
    """A worker running in a task; ``stop()`` stops it and waits for the end."""

    def __init__(self, app: procrastinate.App, **options: Any):
        options.setdefault("install_signal_handlers", False)
        self.worker = worker.Worker(app=app, **options)
        self.task = asyncio.create_task(self.worker.run())

    @property
    def worker_id(self) -> int:
        assert self.worker.worker_id is not None
        return self.worker.worker_id

    async def stop(self) -> None:
        self.worker.stop()
        await finish(self.task, self.worker)
