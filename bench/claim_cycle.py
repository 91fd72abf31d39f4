"""The SQL cost of a claim and of its report, per backlog shape, without a
worker: one connection fetches LIMIT jobs (the claim the worker calls:
procrastinate_fetch_jobs_v5, or v4, v3, v2 on an older schema) and
reports them succeeded (procrastinate_finish_jobs_v1), CYCLES times, and the
medians are printed. For comparing two versions of the SQL functions.

    python bench/claim_cycle.py DSN SHAPE [--n N] [--cycles C] [--limit L]
        [--queue-limit Q]

DSN: a database with the schema (it is emptied). SHAPE: waiting (N jobs
without a lock) or locks (N jobs on 1,000 locks). --queue-limit: a
concurrency limit of Q on the jobs' queue (docs/flow-control.md), to measure
the claim's limited path (a limit above LIMIT is never reached).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import psycopg

BACKLOG = {
    "waiting": "insert into procrastinate_jobs (queue_name, task_name, args) "
    "select 'default', 't', jsonb_build_object('i', g) from generate_series(1, %s) as g",
    "locks": "insert into procrastinate_jobs (queue_name, task_name, args, lock) "
    "select 'default', 't', jsonb_build_object('i', g), 'lock-' || mod(g, 1000) "
    "from generate_series(1, %s) as g",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dsn")
    parser.add_argument("shape", choices=sorted(BACKLOG))
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument(
        "--store-result", action="store_true",
        help="the jobs keep their result, and each report carries a small one",
    )
    parser.add_argument("--queue-limit", type=int, default=None)
    args = parser.parse_args()
    dsn, shape, n, cycles, limit = args.dsn, args.shape, args.n, args.cycles, args.limit
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("truncate procrastinate_jobs, procrastinate_workers cascade")
        if conn.execute("select to_regclass('procrastinate_limits')").fetchone()[0]:
            conn.execute("truncate procrastinate_limits")
        if args.queue_limit is not None:
            conn.execute(
                "select procrastinate_set_limit(queue_name => 'default', concurrency => %s)",
                (args.queue_limit,),
            )
        conn.execute(BACKLOG[shape], (n,))
        if args.store_result:
            conn.execute("update procrastinate_jobs set store_result = true")
        conn.execute("vacuum analyze procrastinate_jobs")
        worker = conn.execute(
            "select procrastinate_register_worker_v2('cycle', null, %s, 'h', 1)", (limit,)
        ).fetchone()[0]
        # the claim the worker calls: the newest that exists
        claim = conn.execute(
            "select coalesce(to_regproc('procrastinate_fetch_jobs_v5')::text,"
            " to_regproc('procrastinate_fetch_jobs_v4')::text,"
            " to_regproc('procrastinate_fetch_jobs_v3')::text,"
            " 'procrastinate_fetch_jobs_v2')"
        ).fetchone()[0]
        fetch, finish = [], []
        for _ in range(cycles):
            t0 = time.perf_counter()
            rows = conn.execute(
                f"select id, attempts from {claim}(%s, null, %s)", (worker, limit)
            ).fetchall()
            t1 = time.perf_counter()
            outcomes = [{"id": i, "attempt": a, "status": "succeeded"} for i, a in rows]
            if args.store_result:
                for outcome in outcomes:
                    outcome["result"] = {"i": outcome["id"], "ok": True}
            conn.execute(
                "select count(*) from procrastinate_finish_jobs_v1(%s, %s::jsonb)",
                (worker, json.dumps(outcomes)),
            )
            fetch.append(t1 - t0)
            finish.append(time.perf_counter() - t1)
    print(
        f"{shape}, {n} jobs, {claim}"
        f"{'' if args.queue_limit is None else f', queue limit {args.queue_limit}'}: "
        f"fetch of {limit} {statistics.median(fetch) * 1000:.2f} ms, "
        f"finish {statistics.median(finish) * 1000:.2f} ms (medians of {cycles})"
    )


if __name__ == "__main__":
    main()
