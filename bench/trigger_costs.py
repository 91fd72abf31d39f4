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

--levels compares the levels of procrastinate_settings.history instead
(full, outcomes, none, and the event triggers disabled: what no history
at all would cost), plus --base REV (a database built from that commit's
sql/, at its own default), and adds a third column: one job per call
(defer, claim and report one job, each in its own transaction), where what
a trigger costs per statement shows. Its databases are built side by side
and their calls interleaved (each batch, cycle or job on every database in
turn), so that a noisy machine weighs on each alike.
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


WAL_POSITION = "select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint"
EVENT_TRIGGERS = ["procrastinate_jobs_insert_events_v1", "procrastinate_jobs_update_events_v1"]


def build_database(name: str, rev: str | None = None) -> None:
    """A database from sql/*.sql of this tree, or of commit REV."""
    subprocess.run(["createdb", name], check=True)
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-d", name]
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    if rev is None:
        for path in sorted(glob.glob(os.path.join(ROOT, "sql", "*.sql"))):
            cmd += ["-f", path]
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        return
    files = subprocess.run(
        ["git", "-C", ROOT, "ls-tree", "--name-only", rev, "sql/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    text = "".join(
        subprocess.run(
            ["git", "-C", ROOT, "show", f"{rev}:{f}"], check=True, capture_output=True, text=True
        ).stdout
        + "\n"
        for f in sorted(files)
        if f.endswith(".sql")
    )
    subprocess.run(cmd, check=True, env=env, capture_output=True, input=text, text=True)


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


def interleaved(
    names: list[str], setups: list[tuple[list[str], str | None]], n: int, single: int
) -> list[tuple[float, ...]]:
    """--levels: µs per job (defer, fetch + finish, one job per call) of each
    database, their calls interleaved (each batch, cycle or job on every
    database in turn, the order rotated) so that the machine's drift weighs on
    each alike; and the WAL bytes per job of the same calls (read around
    each call, untimed: the databases share one cluster, their calls never
    overlap)."""
    conns = [psycopg.connect(dbname=name, autocommit=True) for name in names]
    try:
        for conn, (disabled, history) in zip(conns, setups, strict=True):
            if history is not None:
                conn.execute("update procrastinate_settings set history = %s", (history,))
            for trigger in disabled:
                conn.execute(f"alter table procrastinate_jobs disable trigger {trigger}")
            conn.execute("select procrastinate_defer_jobs_v2('[]'::jsonb)")  # warm-up
        k = len(conns)
        totals = [[0.0, 0.0, 0.0] for _ in conns]
        wal = [[0, 0, 0] for _ in conns]  # WAL bytes written by the calls (untimed reads)

        def rotated(step: int) -> list[int]:
            return [(step + i) % k for i in range(k)]

        def lsn(c: int) -> int:
            row = conns[c].execute(WAL_POSITION).fetchone()
            assert row is not None
            return int(row[0])

        def timed(c: int, column: int, sql: str, params: tuple = ()) -> list:
            before = lsn(c)
            start = time.perf_counter()
            rows = conns[c].execute(sql, params).fetchall()
            totals[c][column] += time.perf_counter() - start
            wal[c][column] += lsn(c) - before
            return rows

        job = '{"task_name": "noop", "args": {"i": %d}, "queue_name": "default", "priority": 0}'
        batches = [
            "[" + ", ".join(job % i for i in range(first, min(first + 1000, n))) + "]"
            for first in range(0, n, 1000)
        ]
        for step, batch in enumerate(batches):
            for c in rotated(step):
                timed(c, 0, "select procrastinate_defer_jobs_v2(%s::jsonb)", (batch,))
        for conn in conns:
            conn.execute("checkpoint")
        done = [0] * k
        step = 0
        while any(d < n for d in done):
            for c in rotated(step):
                if done[c] >= n:
                    continue
                rows = timed(
                    c, 1, "select id, attempts from procrastinate_fetch_jobs_v2(null, null, 100)"
                )
                outcomes = ", ".join(
                    f'{{"id": {job_id}, "attempt": {attempts}, "status": "succeeded"}}'
                    for job_id, attempts in rows
                )
                timed(
                    c,
                    1,
                    "select * from procrastinate_finish_jobs_v1(null, %s::jsonb)",
                    (f"[{outcomes}]",),
                )
                assert rows, (c, done[c], n)
                done[c] += len(rows)
            step += 1
        for i in range(single):
            for c in rotated(i):
                timed(
                    c,
                    2,
                    "select procrastinate_defer_jobs_v2(%s::jsonb)",
                    (f'[{{"task_name": "noop", "args": {{"i": {i}}}, "queue_name": "one"}}]',),
                )
                ((job_id, attempts),) = timed(
                    c, 2, "select id, attempts from procrastinate_fetch_jobs_v2(null, null, 1)"
                )
                timed(
                    c,
                    2,
                    "select * from procrastinate_finish_jobs_v1(null, %s::jsonb)",
                    (f'[{{"id": {job_id}, "attempt": {attempts}, "status": "succeeded"}}]',),
                )
        return [
            (
                t[0] * 1e6 / n,
                t[1] * 1e6 / n,
                t[2] * 1e6 / single if single else 0.0,
                w[0] / n,
                w[1] / n,
                w[2] / single if single else 0.0,
            )
            for t, w in zip(totals, wal, strict=True)
        ]
    finally:
        for conn in conns:
            conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="median over this many runs")
    parser.add_argument(
        "--levels", action="store_true", help="compare the levels of procrastinate_settings.history"
    )
    parser.add_argument(
        "--base", metavar="REV", help="with --levels: also a database of REV's sql/"
    )
    parser.add_argument(
        "--single", type=int, default=2_000, help="with --levels: jobs of the one-job-per-call run"
    )
    args = parser.parse_args()

    # (label, disabled triggers, history level, commit)
    configurations: list[tuple[str, list[str], str | None, str | None]]
    if args.levels:
        configurations = []
        if args.base:
            configurations.append((f"{args.base} (before)", [], None, args.base))
        configurations += [
            ("history full", [], "full", None),
            ("history outcomes", [], "outcomes", None),
            ("history none", [], "none", None),
            ("event triggers disabled", EVENT_TRIGGERS, "full", None),
        ]
    else:
        configurations = [("every trigger on", [], None, None)]
        configurations += [(f"without {t}", [t], None, None) for t in TRIGGERS]
        configurations.append(("every trigger off", list(TRIGGERS), None, None))
    single = args.single if args.levels else 0
    results: dict[str, list[tuple[float, ...]]] = {c[0]: [] for c in configurations}
    for round_ in range(args.rounds):
        if args.levels:
            names = [f"trigger_costs_{uuid.uuid4().hex[:8]}" for _ in configurations]
            try:
                for name, (_, _, _, rev) in zip(names, configurations, strict=True):
                    build_database(name, rev)
                costs = interleaved(
                    names, [(c[1], c[2]) for c in configurations], args.jobs, single
                )
                for (label, _, _, _), cost in zip(configurations, costs, strict=True):
                    results[label].append(cost)
            finally:
                for name in names:
                    subprocess.run(["dropdb", "--if-exists", name], check=True)
            continue
        # alternate the order, so that a drift of the machine weighs on each alike
        ordered = configurations if round_ % 2 == 0 else configurations[::-1]
        for label, disabled, _, rev in ordered:
            name = f"trigger_costs_{uuid.uuid4().hex[:8]}"
            build_database(name, rev)
            try:
                results[label].append(measure(name, disabled, args.jobs))
            finally:
                subprocess.run(["dropdb", name], check=True)

    def median(label: str, index: int) -> float:
        return statistics.median(r[index] for r in results[label])

    first = configurations[0][0]
    columns = 3 if args.levels else 2
    base = [median(first, i) for i in range(columns)]
    print(
        f"{args.jobs:,} jobs, median of {args.rounds} runs; µs per job "
        f"(what the fast path saves compared with '{first}', and its share)\n"
    )
    header = (
        "| configuration | defer (1,000 per call) | saved | fetch + finish (100 per call) | saved |"
    )
    if args.levels:
        header += f" one job per call ({single:,}: defer, claim, report) | saved |"
    print(header)
    print("|---|" + "---:|---:|" * columns)
    for label, disabled, _, _ in configurations:
        values = [median(label, i) for i in range(columns)]
        what = f" ({TRIGGERS[disabled[0]]})" if len(disabled) == 1 else ""
        cells = []
        for b, v in zip(base, values, strict=True):
            cells.append(f"{v:.1f}")
            cells.append("" if label == first else f"{b - v:+.1f} ({(b - v) / b:.0%})")
        print(f"| {label}{what} | " + " | ".join(cells) + " |")
    if args.levels:
        print("\nWAL bytes per job, the same calls (medians)\n")
        print("| configuration | defer (1,000 per call) | fetch + finish | one job per call |")
        print("|---|---:|---:|---:|")
        for label, _, _, _ in configurations:
            cells = [f"{median(label, i):,.0f}" for i in range(3, 6)]
            print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
