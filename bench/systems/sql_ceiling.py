"""The practical ceiling: our schema driven by a plain SQL loop, no driver.

Run with our virtualenv (it only needs psycopg). One connection, autocommit:
claim 100 jobs with ``procrastinate_fetch_jobs_v2(null, null, 100)``, report
them all succeeded with one ``procrastinate_finish_jobs_v1`` call, repeat
until a claim comes back empty. No task code runs, so this is what the SQL
alone allows one client to reach: a worker can approach it, not pass it.
Its concurrency is fixed (100 jobs per claim) whatever the row says.

Defers likewise call ``procrastinate_defer_jobs_v2`` directly, one job per
call or 1,000 per call. Schema, finished jobs and timings: as ours.py.
"""

from __future__ import annotations

import json
import time
from typing import Any

import _common
import ours

CLAIM = 100
FETCH = "select id, task_name, args, attempts from procrastinate_fetch_jobs_v2(null, null, %s)"
FINISH = "select count(*) from procrastinate_finish_jobs_v1(null, %s::jsonb)"
DEFER = "select id from procrastinate_defer_jobs_v2(%s::jsonb)"


def _job(i: int) -> dict[str, Any]:
    return {"task_name": _common.TASK, "args": {"i": i}}


def info(args) -> dict[str, Any]:
    import psycopg

    return {"system": "sql-ceiling", "version": "psycopg " + psycopg.__version__, "module": ""}


def _defer(dsn: str, n: int, batch_size: int, warm_up: bool = True) -> float:
    with ours.connect(dsn) as conn:
        if warm_up:  # connection ready before the clock starts
            conn.execute(DEFER, (json.dumps([_job(-1)]),)).fetchall()
        start = time.perf_counter()
        if batch_size <= 0:
            for i in range(n):
                conn.execute(DEFER, (json.dumps([_job(i)]),)).fetchall()
        else:
            for first in range(0, n, batch_size):
                jobs = [_job(i) for i in range(first, min(first + batch_size, n))]
                conn.execute(DEFER, (json.dumps(jobs),)).fetchall()
        return time.perf_counter() - start


def defer(args) -> dict[str, Any]:
    return {"n": args.n, "seconds": _defer(args.dsn, args.n, args.batch_size)}


def prefill(args) -> dict[str, Any]:
    _defer(args.dsn, args.n, 5000, warm_up=False)
    return {"n": args.n}


def work(args) -> dict[str, Any]:
    with ours.connect(args.dsn) as conn:
        while True:
            rows = conn.execute(FETCH, (CLAIM,)).fetchall()
            if not rows:
                break
            outcomes = [
                {"id": job_id, "attempt": attempts, "status": "succeeded"}
                for job_id, _task, _args, attempts in rows
            ]
            conn.execute(FINISH, (json.dumps(outcomes),)).fetchall()
    return {"rss_kb": _common.vm_hwm_kb()}


if __name__ == "__main__":
    _common.main(
        {
            "info": info,
            "install": ours.install,
            "add-finished": ours.add_finished,
            "span": ours.span,
            "defer": defer,
            "prefill": prefill,
            "work": work,
        }
    )
