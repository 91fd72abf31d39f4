"""Benchmark adapter for procrastinate 3.10 from PyPI (the upstream we follow).

Run with .bench/venv-procrastinate (pip install procrastinate==3.10.0). The
schema is its own (``app.schema_manager.apply_schema_async()``, what
``procrastinate schema --apply`` does). Job timings come from its
procrastinate_events table (started / succeeded), filled by its triggers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import _common
import _procrastinate_api


def connect(dsn: str):
    import psycopg

    return psycopg.connect(dsn, autocommit=True)


def install(args) -> dict[str, Any]:
    async def apply() -> None:
        app, _, _ = _procrastinate_api.make_app(args.dsn)
        async with app.open_async():
            await app.schema_manager.apply_schema_async()

    asyncio.run(apply())
    return {}


def add_finished(args) -> dict[str, Any]:
    """N succeeded jobs in its table shape (events not included)."""
    with connect(args.dsn) as conn:
        # Superuser only: skips its per-row event and notify triggers.
        conn.execute("set session_replication_role = replica")
        conn.execute(
            """
            insert into procrastinate_jobs (queue_name, task_name, args, status, attempts)
            select 'default', %s, jsonb_build_object('i', g), 'succeeded', 1
            from generate_series(1, %s) as g
            """,
            (_common.TASK, args.n),
        )
        conn.execute("reset session_replication_role")
        conn.execute("vacuum analyze")
    return {"n": args.n}


def span(args) -> dict[str, Any]:
    with connect(args.dsn) as conn:
        row = conn.execute(
            """
            select
                extract(epoch from min(at) filter (where type = 'started')),
                extract(epoch from max(at) filter (where type = 'succeeded')),
                count(*) filter (where type = 'succeeded')
            from procrastinate_events
            where at >= to_timestamp(%s)
            """,
            (args.since,),
        ).fetchone()
    return {
        "first_start": None if row[0] is None else float(row[0]),
        "last_finish": None if row[1] is None else float(row[1]),
        "finished": row[2],
    }


def info(args) -> dict[str, Any]:
    result = {"system": "procrastinate"}
    result.update(_procrastinate_api.info())
    return result


if __name__ == "__main__":
    _common.main(
        {
            "info": info,
            "install": install,
            "add-finished": add_finished,
            "span": span,
            "defer": _procrastinate_api.defer,
            "prefill": _procrastinate_api.prefill,
            "backlog": lambda args: _procrastinate_api.backlog(args, connect),
            "work": _procrastinate_api.work,
            "listen": _procrastinate_api.listen,
            "produce": _procrastinate_api.produce,
            "retention": _procrastinate_api.retention,
        }
    )
