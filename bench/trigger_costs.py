"""What each trigger of procrastinate_jobs costs, per job, on the fast path.

    scripts/with-private-pg.sh .venv/bin/python bench/trigger_costs.py
    (or `make bench/triggers`; any server in PGHOST/PGPORT/PGUSER)

For each configuration (every trigger on, then each one off alone, then all
off) a fresh database is built from sql/*.sql; then, timed, one connection
(autocommit: a transaction per call, as the worker does):
- defers N jobs with procrastinate_defer_jobs_v2, 1,000 per call;
- claims them with procrastinate_fetch_jobs_v2, 100 per call, and reports
  each batch succeeded with one procrastinate_finish_jobs_v1 call.
The cost of a trigger is the time the fast path saves without it. It prints
one table (µs per job, and the share of the all-on time).
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import subprocess
import time
import uuid

import psycopg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TRIGGERS = {
    "procrastinate_jobs_insert_events_v1": "history: 'deferred' events (insert)",
    "procrastinate_jobs_notify_insert_v1": "NOTIFY job_available (insert)",
    "procrastinate_jobs_update_events_v1": "history: status events (update)",
    "procrastinate_jobs_notify_update_v1": "NOTIFY on update (retries, locks, aborts)",
    "procrastinate_jobs_delete_events_v1": "history cleanup (delete)",
}


def build_database(name: str) -> None:
    subprocess.run(["createdb", name], check=True)
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-d", name]
    for path in sorted(glob.glob(os.path.join(ROOT, "sql", "*.sql"))):
        cmd += ["-f", path]
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    subprocess.run(cmd, check=True, env=env, capture_output=True)


def measure(name: str, disabled: list[str], n: int) -> tuple[float, float]:
    """µs per job: (defer, fetch + finish)."""
    with psycopg.connect(dbname=name, autocommit=True) as conn:
        for trigger in disabled:
            conn.execute(f"alter table procrastinate_jobs disable trigger {trigger}")
        job = '{"task_name": "noop", "args": {"i": %d}, "queue_name": "default", "priority": 0}'
        batches = [
            "[" + ", ".join(job % i for i in range(first, min(first + 1000, n))) + "]"
            for first in range(0, n, 1000)
        ]
        conn.execute("select procrastinate_defer_jobs_v2('[]'::jsonb)")  # warm-up
        start = time.perf_counter()
        for batch in batches:
            conn.execute("select procrastinate_defer_jobs_v2(%s::jsonb)", (batch,)).fetchall()
        defer = time.perf_counter() - start
        conn.execute("checkpoint")
        start = time.perf_counter()
        done = 0
        while True:
            rows = conn.execute(
                "select id, attempts from procrastinate_fetch_jobs_v2(null, null, 100)"
            ).fetchall()
            if not rows:
                break
            outcomes = ", ".join(
                f'{{"id": {job_id}, "attempt": {attempts}, "status": "succeeded"}}'
                for job_id, attempts in rows
            )
            conn.execute(
                "select * from procrastinate_finish_jobs_v1(null, %s::jsonb)", (f"[{outcomes}]",)
            ).fetchall()
            done += len(rows)
        work = time.perf_counter() - start
        assert done == n, (done, n)
    return defer * 1e6 / n, work * 1e6 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="median over this many runs")
    args = parser.parse_args()

    configurations = [("every trigger on", [])]
    configurations += [(f"without {t}", [t]) for t in TRIGGERS]
    configurations.append(("every trigger off", list(TRIGGERS)))
    results: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in configurations}
    for _ in range(args.rounds):
        for label, disabled in configurations:
            name = f"trigger_costs_{uuid.uuid4().hex[:8]}"
            build_database(name)
            try:
                results[label].append(measure(name, disabled, args.jobs))
            finally:
                subprocess.run(["dropdb", name], check=True)

    def median(label: str, index: int) -> float:
        return statistics.median(r[index] for r in results[label])

    base = (median("every trigger on", 0), median("every trigger on", 1))
    print(f"{args.jobs:,} jobs, median of {args.rounds} runs; µs per job "
          "(what the fast path saves without the trigger, and its share)\n")
    print("| configuration | defer (1,000 per call) | saved | fetch + finish (100 per call) | saved |")
    print("|---|---:|---:|---:|---:|")
    for label, disabled in configurations:
        defer, work = median(label, 0), median(label, 1)
        what = f" ({TRIGGERS[disabled[0]]})" if len(disabled) == 1 else ""
        saved = [
            "" if not disabled else f"{b - v:+.1f} ({(b - v) / b:.0%})"
            for b, v in zip(base, (defer, work))
        ]
        print(f"| {label}{what} | {defer:.1f} | {saved[0]} | {work:.1f} | {saved[1]} |")


if __name__ == "__main__":
    main()
