"""Two versions of the claim and report SQL compared cycle by cycle: for
each of two databases (each with its own version of the schema), one
connection fetches LIMIT jobs and reports them succeeded; the two alternate
cycle by cycle (the order swapped every other cycle), so that the machine's
drift weighs on both alike, and the medians of the per-cycle ratios are
printed. bench/claim_cycle.py measures one database at a time.

    python bench/claim_ab.py DSN_A DSN_B [--n N] [--cycles C] [--limit L] [--shape waiting|locks]

Each database is emptied and given N waiting jobs (default 100,000); the
claim is the newest each one has (v5, else v4, v3, v2).

--defer compares batch defers instead: CYCLES calls of
procrastinate_defer_jobs_v2 with 1,000 jobs each, alternating in the same
way (each database emptied every 20 calls), and prints µs per job.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import psycopg
from claim_cycle import BACKLOG  # (run as a script: bench/ is on sys.path)

NEWEST_CLAIM = (
    "select coalesce(to_regproc('procrastinate_fetch_jobs_v5')::text,"
    " to_regproc('procrastinate_fetch_jobs_v4')::text,"
    " to_regproc('procrastinate_fetch_jobs_v3')::text, 'procrastinate_fetch_jobs_v2')"
)


class Side:
    def __init__(self, dsn: str, shape: str, n: int, limit: int):
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute("truncate procrastinate_jobs, procrastinate_workers cascade")
        self.conn.execute(BACKLOG[shape], (n,))
        self.conn.execute("vacuum analyze procrastinate_jobs")
        self.worker = self.conn.execute(
            "select procrastinate_register_worker_v2('ab', null, %s, 'h', 1)", (limit,)
        ).fetchone()[0]
        self.claim = self.conn.execute(NEWEST_CLAIM).fetchone()[0]
        self.limit = limit
        self.fetch: list[float] = []
        self.finish: list[float] = []

    def cycle(self) -> None:
        t0 = time.perf_counter()
        rows = self.conn.execute(
            f"select id, attempts from {self.claim}(%s, null, %s)", (self.worker, self.limit)
        ).fetchall()
        t1 = time.perf_counter()
        outcomes = [{"id": i, "attempt": a, "status": "succeeded"} for i, a in rows]
        self.conn.execute(
            "select * from procrastinate_finish_jobs_v1(%s, %s::jsonb)",
            (self.worker, json.dumps(outcomes)),
        ).fetchall()
        t2 = time.perf_counter()
        self.fetch.append(t1 - t0)
        self.finish.append(t2 - t1)


def compare_defers(dsn_a: str, dsn_b: str, cycles: int) -> None:
    conns = [psycopg.connect(dsn, autocommit=True) for dsn in (dsn_a, dsn_b)]
    job = '{"task_name": "noop", "args": {"i": %d}, "queue_name": "default", "priority": 0}'
    batch = "[" + ", ".join(job % i for i in range(1000)) + "]"
    empty = "truncate procrastinate_jobs, procrastinate_events cascade"
    times: list[list[float]] = [[], []]
    for conn in conns:
        conn.execute(empty)
    for i in range(cycles):
        for side in (0, 1) if i % 2 == 0 else (1, 0):
            start = time.perf_counter()
            conns[side].execute(
                "select procrastinate_defer_jobs_v2(%s::jsonb)", (batch,)
            ).fetchall()
            times[side].append(time.perf_counter() - start)
        if i % 20 == 19:
            for conn in conns:
                conn.execute(empty)
    for name, side in (("A", 0), ("B", 1)):
        print(f"{name}: defer {statistics.median(times[side]) * 1e3:.1f} µs per job (median)")
    ratio = statistics.median(times[1][i] / times[0][i] for i in range(cycles))
    print(f"B/A, median of the per-call ratios: defer {ratio:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dsn_a")
    parser.add_argument("dsn_b")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--shape", choices=sorted(BACKLOG), default="waiting")
    parser.add_argument("--defer", action="store_true", help="compare batch defers")
    args = parser.parse_args()
    if args.defer:
        compare_defers(args.dsn_a, args.dsn_b, args.cycles)
        return
    a = Side(args.dsn_a, args.shape, args.n, args.limit)
    b = Side(args.dsn_b, args.shape, args.n, args.limit)
    for i in range(args.cycles):
        for side in (a, b) if i % 2 == 0 else (b, a):
            side.cycle()
    for name, side in (("A", a), ("B", b)):
        print(
            f"{name} ({side.claim}): fetch {statistics.median(side.fetch) * 1e3:.3f} ms, "
            f"finish {statistics.median(side.finish) * 1e3:.3f} ms (medians)"
        )

    def ratio(pick) -> float:  # type: ignore[no-untyped-def]
        return statistics.median(pick(b, i) / pick(a, i) for i in range(args.cycles))

    print(
        "B/A, medians of the per-cycle ratios: "
        f"fetch {ratio(lambda s, i: s.fetch[i]):.3f}, "
        f"finish {ratio(lambda s, i: s.finish[i]):.3f}, "
        f"cycle {ratio(lambda s, i: s.fetch[i] + s.finish[i]):.3f}"
    )


if __name__ == "__main__":
    main()
