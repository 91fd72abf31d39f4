"""Benchmark adapter for ours (procrastinate, SQL-core edition).

Run with our virtualenv and PYTHONPATH=<repo>/python (see run.py). The schema
comes from sql/*.sql, applied in name order with psql, as `make` does. The
SQL helpers here (install, add_finished, span) are also used by sql_ceiling.py,
which works on our schema without our driver.
"""

from __future__ import annotations

import glob
import os
import subprocess
from typing import Any

import _common

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def connect(dsn: str):
    import psycopg

    return psycopg.connect(dsn, autocommit=True)


def install(args) -> dict[str, Any]:
    files = sorted(glob.glob(os.path.join(ROOT, "sql", "*.sql")))
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-d", args.dsn]
    for f in files:
        cmd += ["-f", f]
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"psql failed applying sql/: {proc.stderr.strip()[-500:]}")
    # run.py --ours-history: the level of the history (docs/operations.md)
    history = os.environ.get("BENCH_OURS_HISTORY") or "full"
    with connect(args.dsn) as conn:
        conn.execute("update procrastinate_settings set history = %s", (history,))
    return {"files": len(files), "history": history}


def add_finished(args) -> dict[str, Any]:
    """N succeeded jobs, as our worker leaves them (events not included)."""
    with connect(args.dsn) as conn:
        # Superuser only: skips the event triggers, so that only job rows go in.
        conn.execute("set session_replication_role = replica")
        conn.execute(
            """
            insert into procrastinate_jobs (
                queue_name, task_name, args, status, attempts,
                created_at, started_at, finished_at
            )
            select
                'default', %s, jsonb_build_object('i', g), 'succeeded', 1,
                now() - interval '1 day', now() - interval '1 day',
                now() - interval '1 day'
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
                extract(epoch from min(started_at)),
                extract(epoch from max(finished_at)),
                count(*) filter (where status = 'succeeded')
            from procrastinate_jobs
            where started_at >= to_timestamp(%s)
            """,
            (args.since,),
        ).fetchone()
    return {"first_start": _f(row[0]), "last_finish": _f(row[1]), "finished": row[2]}


def sample(args) -> dict[str, Any]:
    """Count the running jobs every ``--interval`` seconds until every job
    ended (after one started), or 120 s: a histogram of the counts, of all
    samples and of those taken while jobs still waited."""
    import time

    counts: dict[int, int] = {}
    waiting: dict[int, int] = {}
    started = False
    deadline = time.monotonic() + 120
    with connect(args.dsn) as conn:
        while time.monotonic() < deadline:
            running, waits = conn.execute(
                """select
                    (select count(*) from procrastinate_jobs
                     where status = 'doing' and worker_id is not null),
                    exists (select 1 from procrastinate_jobs where status = 'todo')"""
            ).fetchone()
            counts[running] = counts.get(running, 0) + 1
            if waits:
                waiting[running] = waiting.get(running, 0) + 1
            started = started or running > 0
            if started and not running and not waits:
                break
            time.sleep(args.interval)
    return {"all": counts, "while_waiting": waiting}


def backlog(args) -> dict[str, Any]:
    import _procrastinate_api

    return _procrastinate_api.backlog(args, connect)


def _f(value):
    return None if value is None else float(value)


def info(args) -> dict[str, Any]:
    import _procrastinate_api

    result = {"system": "ours"}
    result.update(_procrastinate_api.info())
    result["version"] = _revision() or result["version"]
    module = result["module"]
    if not os.path.abspath(module).startswith(os.path.join(ROOT, "python")):
        raise SystemExit(f"ours: imported procrastinate from {module}, not from {ROOT}/python")
    return result


def _revision() -> str:
    """The commit benchmarked, "+changes" when python/ or sql/ differ from it."""
    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return ""
    changed = git("status", "--porcelain", "--", "python", "sql")
    return f"git {commit}" + ("+changes" if changed else "")


def supervise(args) -> dict[str, Any]:
    """`procrastinate worker --processes N --concurrency C --one-shot`, one
    command: a supervisor and N worker processes drain the queue. Peak RSS:
    the largest of those processes (resource's RUSAGE_CHILDREN)."""
    import resource
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(
        os.environ,
        BENCH_DSN=args.dsn,
        PYTHONPATH=os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p),
    )
    command = [
        sys.executable, "-m", "procrastinate", "--app", "_ours_cli_app.app",
        "--log-level", "warning", "worker", "--processes", str(args.processes),
        "--concurrency", str(args.concurrency), "--one-shot",
    ]
    proc = subprocess.run(command, env=env, stdout=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SystemExit(f"procrastinate worker --processes exited with {proc.returncode}")
    return {"rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}


def _api(name):
    def action(args):
        import _procrastinate_api

        return getattr(_procrastinate_api, name)(args)

    return action


if __name__ == "__main__":
    _common.main(
        {
            "info": info,
            "install": install,
            "add-finished": add_finished,
            "span": span,
            "defer": _api("defer"),
            "prefill": _api("prefill"),
            "backlog": backlog,
            "sample": sample,
            "work": _api("work"),
            "supervise": supervise,
            "listen": _api("listen"),
            "produce": _api("produce"),
            "wait": _api("wait"),
            "retention": _api("retention"),
        }
    )
