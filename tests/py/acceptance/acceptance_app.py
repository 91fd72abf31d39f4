"""The app the acceptance tests run with ``procrastinate --app
acceptance_app.app``. Its connector reads libpq's environment (PGDATABASE is
the test's database). Tasks record each run in ``acceptance_runs`` (created by
the tests) with the database clock, so tests can check order and overlap."""

from __future__ import annotations

import asyncio
import os
import time

import psycopg

import procrastinate

app = procrastinate.App(connector=procrastinate.PsycopgConnector())

RECORD_START = """
insert into acceptance_runs (job_id, task, tag, attempt, pid, started_at)
values (%s, %s, %s, %s, %s, clock_timestamp())
returning id
"""
RECORD_END = "update acceptance_runs set ended_at = clock_timestamp() where id = %s"


def _start(context: procrastinate.JobContext, tag: str | None) -> int:
    job = context.job
    with psycopg.connect(autocommit=True) as connection:
        row = connection.execute(
            RECORD_START, (job.id, job.task_name, tag, job.attempts, os.getpid())
        ).fetchone()
    assert row is not None
    return row[0]


def _end(run_id: int) -> None:
    with psycopg.connect(autocommit=True) as connection:
        connection.execute(RECORD_END, (run_id,))


@app.task(name="sum_task", pass_context=True)
def sum_task(context: procrastinate.JobContext, a: int, b: int) -> int:
    _end(_start(context, None))
    return a + b


@app.task(name="record", pass_context=True)
def record(context: procrastinate.JobContext, tag: str = "", seconds: float = 0) -> None:
    """Records its run; sleeps ``seconds`` in between start and end."""
    run_id = _start(context, tag)
    time.sleep(seconds)
    _end(run_id)


@app.task(name="flaky", pass_context=True, retry=2)
def flaky(context: procrastinate.JobContext) -> str:
    """Fails on its first two attempts."""
    _end(_start(context, None))
    if context.job.attempts < 2:
        raise ValueError(f"failing on attempt {context.job.attempts}")
    return "third time lucky"


@app.task(name="async_sleep", pass_context=True)
async def async_sleep(context: procrastinate.JobContext, seconds: float) -> None:
    """Sleeps, cancellable: an abort ends it."""
    run_id = await asyncio.to_thread(_start, context, None)
    try:
        await asyncio.sleep(seconds)
    finally:
        await asyncio.to_thread(_end, run_id)


RELEASED = "select exists (select from acceptance_runs where task = 'release' and tag = %s)"
STARTED = "select count(*) from acceptance_runs where tag = %s and task <> 'release'"


def _wait_for(query: str, tag: str, condition, what: str) -> None:
    """Wait (60 s at most) until ``query`` on ``tag`` answers ``condition``."""
    deadline = time.monotonic() + 60
    with psycopg.connect(autocommit=True) as connection:
        while True:
            row = connection.execute(query, (tag,)).fetchone()
            if row is not None and condition(row[0]):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not come within 60 s")
            time.sleep(0.02)


@app.task(name="hold", pass_context=True)
def hold(context: procrastinate.JobContext, tag: str) -> None:
    """Records its start, then runs until the test inserts a row of task
    'release' with this tag (acceptance_helpers.release)."""
    run_id = _start(context, tag)
    _wait_for(RELEASED, tag, bool, f"release of {tag}")
    _end(run_id)


@app.task(name="meet", pass_context=True)
def meet(context: procrastinate.JobContext, tag: str, count: int) -> None:
    """Records its start, then runs until ``count`` runs of this tag have
    started: jobs that can only end once they all run at the same time."""
    run_id = _start(context, tag)
    _wait_for(STARTED, tag, lambda started: started >= count, f"{count} runs of {tag}")
    _end(run_id)
