#!/usr/bin/env python3
"""The web dashboard on a big table: each page's HTTP request through the
ASGI app (httpx, no network), with 1,000,000 jobs in procrastinate_jobs.

    scripts/with-private-pg.sh .venv/bin/python bench/dashboard.py [--jobs N] [--recent] [--runs R]

Needs .venv (the dashboard extra) and the server in PGHOST/PGPORT/PGUSER
(scripts/with-private-pg.sh starts a throwaway one). The table is filled by
one SQL statement in a fresh clone of the schema template
(scripts/clone-db.sh), then vacuumed and analyzed:

- N jobs (1,000,000) in 5 queues and 20 tasks, args {"i": n, "user": n % 1000},
  created one every few seconds over 30 days (in id order, as defers number
  them), 98% succeeded, 2% failed, 10,000 waiting at the end, 50 running;
- with --recent, every job finished within the last day instead (the worst
  case of the overview's counts and the day chart: they read the jobs
  finished in the day, here all of them);
- their history as workers write it (procrastinate_events, which the charts
  count): deferred, started, then succeeded or failed, numbered in time
  order (3 events a finished job, about 3,000,000).

Each request runs R times (default 7) after one warm-up; the table shows
the median and the slowest, in ms. The dashboard keeps the chart buckets
that are over (procrastinate.dashboard.activity): the warm-up fills them, so
the overview rows are the cost of a refresh; "first request of a new
dashboard" is the cost of counting the whole day once. The jobs page must answer in under
200 ms (issue 19). Also shown: the old overview query (procrastinate_queue_stats,
which reads every job), for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DB = "bench_dashboard"

FILL = """
insert into procrastinate_jobs (
    queue_name, task_name, args, status, created_at, started_at, finished_at, attempts,
    last_error_types
)
select
    'queue-' || (g % 5),
    'task-' || (g % 20),
    jsonb_build_object('i', g, 'user', g % 1000),
    case
        when g > %(n)s - 50 then 'doing'
        when g > %(n)s - 10050 then 'todo'
        when g % 50 = 0 then 'failed'
        else 'succeeded'
    end::procrastinate_job_status,
    c.created_at,
    case when g <= %(n)s - 10050 or g > %(n)s - 50 then c.created_at end,
    case when g <= %(n)s - 10050 then c.created_at + interval '1 second' end,
    case when g <= %(n)s - 10050 or g > %(n)s - 50 then 1 else 0 end,
    case when g % 50 = 0 and g <= %(n)s - 10050 then array['ValueError'] end
from generate_series(1, %(n)s) as g
cross join lateral (
    select now() - %(span)s::interval * (1 - g::double precision / %(n)s) as created_at
) as c
"""

# The insert's trigger recorded one 'deferred' event per job, all first; the
# history is rewritten in time order, as the jobs' defers, claims and ends
# would have numbered it.
HISTORY = """
truncate procrastinate_events;
insert into procrastinate_events (job_id, type, at)
select e.job_id, e.type, e.at
from (
    select j.id as job_id, 'deferred'::procrastinate_job_event_type as type, j.created_at as at,
        0 as step
    from procrastinate_jobs as j
    union all
    select j.id, 'started', j.started_at, 1
    from procrastinate_jobs as j where j.started_at is not null
    union all
    select j.id, j.status::text::procrastinate_job_event_type, j.finished_at, 2
    from procrastinate_jobs as j where j.finished_at is not null
) as e
order by e.at, e.job_id, e.step
"""

# The SQL of the charts alone, no bucket kept: what a new dashboard asks.
THROUGHPUT = {
    "SQL: throughput, last hour (60 buckets)":
        "select * from procrastinate_dashboard_throughput_v1(interval '1 hour', 60)",
    "SQL: throughput, last day (96 buckets)":
        "select * from procrastinate_dashboard_throughput_v1(interval '1 day', 96)",
}


def pages(first_id: int, last_id: int) -> list[tuple[str, str]]:
    middle = (first_id + last_id) // 2
    return [
        ("overview page", "/"),
        ("overview counts (refresh)", "/overview/queues"),
        ("chart data, last hour", "/overview/throughput?range=hour"),
        ("chart data, last day", "/overview/throughput?range=day"),
        ("jobs, first page", "/jobs"),
        ("jobs, a page in the middle (keyset)", f"/jobs?before={middle}"),
        ("jobs, status=failed", "/jobs?status=failed"),
        ("jobs, queue + task", "/jobs?queue=queue-1&task=task-11"),
        ("jobs, args contain {\"user\": 7}", "/jobs?args=%7B%22user%22%3A+7%7D"),
        ("jobs, args contain {\"i\": 123} (one job, old)", "/jobs?args=%7B%22i%22%3A+123%7D"),
        ("jobs, created in a 1 h range 15 days ago", None),  # filled in main
        ("failures", "/failures"),
        ("workers", "/workers"),
        ("a job", f"/jobs/{middle}"),
    ]


def psql(sql: str, db: str = DB) -> str:
    return subprocess.run(
        ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


def fill(n: int, recent: bool) -> None:
    subprocess.run([str(ROOT / "scripts" / "clone-db.sh"), DB], check=True, cwd=ROOT)
    span = "1 day" if recent else "30 days"
    started = time.monotonic()
    sql = FILL.replace("%(n)s", str(n)).replace("%(span)s", f"'{span}'")
    psql(sql)
    psql(HISTORY)
    psql("vacuum analyze procrastinate_jobs")
    psql("vacuum analyze procrastinate_events")
    print(f"filled {n:,} jobs over {span} in {time.monotonic() - started:.0f} s", file=sys.stderr)


async def measure(runs: int) -> list[tuple[str, float, float]]:
    import httpx

    import procrastinate
    from procrastinate import dashboard

    dsn = f"dbname={DB}"
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))
    first_id, last_id = (int(x) for x in psql(
        "select min(id), max(id) from procrastinate_jobs").split("|"))
    at = psql("select to_char(now() at time zone 'utc' - interval '15 days', "
              "'YYYY-MM-DD\"T\"HH24:MI:SS')")
    to = psql("select to_char(now() at time zone 'utc' - interval '15 days' + interval '1 hour', "
              "'YYYY-MM-DD\"T\"HH24:MI:SS')")
    rows: list[tuple[str, float, float]] = []
    async with app.open_async():
        transport = httpx.ASGITransport(app=dashboard.app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for label, path in pages(first_id, last_id):
                if path is None:
                    path = f"/jobs?from={at}&to={to}"
                await http.get(path)  # warm-up: connection, plans
                times = []
                for _ in range(runs):
                    started = time.perf_counter()
                    response = await http.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (path, response.status_code)
                rows.append((label, statistics.median(times), max(times)))
                print(f"{label}: {statistics.median(times):.1f} ms", file=sys.stderr)
        # a dashboard just started keeps no bucket: its first overview counts
        # the whole day in SQL
        times = []
        for _ in range(3):
            transport = httpx.ASGITransport(app=dashboard.app(app))
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                started = time.perf_counter()
                response = await http.get("/overview/queues")
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
        rows.append(("overview counts, first request of a new dashboard",
                     statistics.median(times), max(times)))
    import psycopg

    with psycopg.connect(dsn) as conn:
        for label, query in THROUGHPUT.items():
            conn.execute(query).fetchall()  # warm-up
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                conn.execute(query).fetchall()
                times.append((time.perf_counter() - started) * 1000)
            rows.append((label, statistics.median(times), max(times)))
        # the old overview query, for comparison (the dashboard no longer runs it)
        times = []
        for _ in range(3):
            started = time.perf_counter()
            conn.execute("select * from procrastinate_queue_stats").fetchall()
            times.append((time.perf_counter() - started) * 1000)
        rows.append(("(old overview) select * from procrastinate_queue_stats",
                     statistics.median(times), max(times)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--recent", action="store_true", help="all jobs finished in the last day")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="reuse the filled database")
    args = parser.parse_args()
    os.environ.setdefault("PGDATABASE", "postgres")
    if not args.keep:
        fill(args.jobs, args.recent)
    rows = asyncio.run(measure(args.runs))
    shape = "finished in the last day" if args.recent else "created over 30 days"
    print(f"\n{args.jobs:,} jobs ({shape}), {args.runs} runs each, ms\n")
    print("| request | median | slowest |")
    print("|---|---:|---:|")
    for label, median, slowest in rows:
        print(f"| {label} | {median:.1f} | {slowest:.1f} |")
    print()
    jobs_rows = [r for r in rows if r[0].startswith("jobs")]
    worst = max(r[1] for r in jobs_rows)
    verdict = "met" if worst < 200 else "NOT MET"
    print(f"target: every jobs page under 200 ms (median): {verdict} (slowest median "
          f"{worst:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
