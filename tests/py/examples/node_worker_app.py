"""The Python side of test_node_worker: an App with the task ``record_run``,
the same task the Node worker of examples/node-worker runs (tasks.js), and
the table both record their runs in.

The test defers with ``make_app(dsn)``; its Python workers run this module's
``app`` (``python -m procrastinate --app=node_worker_app.app worker``), set
up from the environment: NODE_EXAMPLE_DSN, NODE_EXAMPLE_HEARTBEAT and
NODE_EXAMPLE_STALLED (seconds).
"""

from __future__ import annotations

import asyncio
import os

import psycopg

import procrastinate

#: One row per run, by either worker (the Node task writes the same columns).
RUNS_TABLE = """
create table example_runs (
    run_id bigserial primary key,
    job_id bigint not null,
    attempt integer not null,
    runner text not null,
    pid integer not null,
    started_at timestamptz not null default clock_timestamp(),
    ended_at timestamptz
)
"""


def make_app(dsn: str, **worker_defaults: float) -> procrastinate.App:
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=dsn, min_size=1, max_size=4),
        worker_defaults=worker_defaults,
    )

    @app.task(name="record_run", pass_context=True)
    async def record_run(
        context: procrastinate.JobContext, first_attempt_seconds: float = 0
    ) -> None:
        """Records the run in example_runs; the first attempt takes
        first_attempt_seconds (as in tasks.js)."""
        job = context.job
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as connection:
            cursor = await connection.execute(
                "insert into example_runs (job_id, attempt, runner, pid) "
                "values (%s, %s, 'python', %s) returning run_id",
                [job.id, job.attempts, os.getpid()],
            )
            row = await cursor.fetchone()
            assert row is not None
            if job.attempts == 0 and first_attempt_seconds > 0:
                await asyncio.sleep(first_attempt_seconds)
            await connection.execute(
                "update example_runs set ended_at = clock_timestamp() where run_id = %s",
                [row[0]],
            )

    return app


app = make_app(
    os.environ.get("NODE_EXAMPLE_DSN", ""),
    update_heartbeat_interval=float(os.environ.get("NODE_EXAMPLE_HEARTBEAT", "0.5")),
    stalled_worker_timeout=float(os.environ.get("NODE_EXAMPLE_STALLED", "2")),
    fetch_job_polling_interval=0.5,
)
