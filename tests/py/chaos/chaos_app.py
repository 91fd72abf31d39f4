"""The app the chaos workers run (real subprocesses, see chaos_harness.py).

Its tasks, ``work`` (sleeps), ``echo`` (sleeps, returns its value) and
``block`` (holds the event loop), record
each run (job id, lock, pid, start, end) in the ``chaos_runs`` table over a
connection of its own, retried until the database answers, so that the
test can compute duplicates and overlaps. Settings come from the
environment (CHAOS_DSN, CHAOS_RECORD_DSN, CHAOS_HEARTBEAT, CHAOS_STALLED,
CHAOS_DB_TIMEOUT).
"""

from __future__ import annotations

import asyncio
import datetime
import os
import time
import uuid

import psycopg

import procrastinate
from procrastinate import connector
from procrastinate.worker import coordinator

DSN = os.environ.get("CHAOS_DSN", "")
# The run records go straight to the server (the workers' DSN may go
# through a faulty proxy).
RECORD_DSN = os.environ.get("CHAOS_RECORD_DSN", DSN)
if os.environ.get("CHAOS_DB_TIMEOUT"):
    # Short deadlines, so that a half-open connection is noticed quickly.
    coordinator.DATABASE_TIMEOUT = float(os.environ["CHAOS_DB_TIMEOUT"])
    connector.LISTEN_TIMEOUT = float(os.environ["CHAOS_DB_TIMEOUT"])

app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(
        conninfo=DSN + " application_name=chaos_worker", min_size=1, max_size=4
    ),
    worker_defaults={
        "update_heartbeat_interval": float(os.environ.get("CHAOS_HEARTBEAT", "0.5")),
        "stalled_worker_timeout": float(os.environ.get("CHAOS_STALLED", "2")),
        "fetch_job_polling_interval": 0.5,
        "abort_job_polling_interval": 0.5,
    },
)


class Recorder:
    """One autocommit connection per worker process, reconnected as needed."""

    def __init__(self) -> None:
        self.connection: psycopg.AsyncConnection | None = None
        self.lock = asyncio.Lock()

    async def execute(self, query: str, params: list) -> None:
        async with self.lock:
            for _ in range(600):  # a minute at most
                try:
                    if self.connection is None or self.connection.closed:
                        self.connection = await psycopg.AsyncConnection.connect(
                            RECORD_DSN + " application_name=chaos_recorder",
                            autocommit=True,
                            connect_timeout=2,
                        )
                    await self.connection.execute(query, params)
                    return
                except psycopg.Error:
                    if self.connection is not None:
                        await self.connection.close()
                    self.connection = None
                    await asyncio.sleep(0.1)
            raise RuntimeError("could not record a run for a minute")


recorder = Recorder()


class recorded_run:
    """Records a run in chaos_runs: its start on entry, its end on exit
    (before the outcome is reported: a lock is still held then).

    The times are taken when the task's code starts and ends (this host's
    clock, the server's too), not when the records reach the database: a
    record waits for the database through an outage, and its write may even
    outlive the task (a cancelled task leaves its shielded write behind),
    which would stretch the run past its report. The end is written with
    the whole row, so that a start record lost with a failed-over primary
    (asynchronous streaming) is written again."""

    def __init__(self, context: procrastinate.JobContext):
        self.run_id = str(uuid.uuid4())
        self.job = context.job
        self.started_at = datetime.datetime.now(datetime.timezone.utc)

    def _row(self, ended_at: datetime.datetime | None) -> list:
        return [self.run_id, self.job.id, self.job.lock, os.getpid(), self.started_at, ended_at]

    async def __aenter__(self) -> None:
        # Idempotent: a retry after a lost answer does not record a second run.
        await recorder.execute(
            "insert into chaos_runs (run_id, job_id, lock, pid, started_at, ended_at) "
            "values (%s, %s, %s, %s, %s, %s) on conflict do nothing",
            self._row(None),
        )

    async def __aexit__(self, *exc_info: object) -> None:
        ended_at = datetime.datetime.now(datetime.timezone.utc)
        await asyncio.shield(
            recorder.execute(
                "insert into chaos_runs (run_id, job_id, lock, pid, started_at, ended_at) "
                "values (%s, %s, %s, %s, %s, %s) "
                "on conflict (run_id) do update set ended_at = excluded.ended_at",
                self._row(ended_at),
            )
        )


@app.task(name="work", pass_context=True)
async def work(
    context: procrastinate.JobContext, seconds: float, fail_first_attempt: bool = False
) -> None:
    async with recorded_run(context):
        await asyncio.sleep(seconds)
        if fail_first_attempt and context.job.attempts == 0:
            raise RuntimeError(f"first run of job {context.job.id} fails (pid {os.getpid()})")


@app.task(name="echo", pass_context=True, store_result=True)
async def echo(context: procrastinate.JobContext, value: int, seconds: float) -> dict[str, int]:
    """Returns what it was given: what waiters expect back (test_waiters.py)."""
    async with recorded_run(context):
        await asyncio.sleep(seconds)
    return {"value": value}


@app.task(name="block", pass_context=True)
async def block(context: procrastinate.JobContext, seconds: float) -> None:
    """The mistake a worker must survive: a synchronous sleep inside an
    async task holds the event loop for ``seconds``."""
    async with recorded_run(context):
        time.sleep(seconds)
