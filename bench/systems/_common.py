"""What every benchmark adapter shares: its command line and its way of reporting.

An adapter is one small script per system (ours.py, procrastinate_upstream.py,
pgqueuer_peer.py, sql_ceiling.py, and graphile_peer.mjs in JavaScript, run by
its own node), run by bench/run.py as a subprocess with
that system's own virtualenv, so that the peers' packages never mix: ours and
procrastinate 3.10 are both imported as ``procrastinate``.

Protocol, the same for every adapter:

    python bench/systems/<adapter>.py ACTION --dsn DSN [options]

It prints at most one ``BENCH_RESULT {json}`` line (the result of ACTION) on
stdout; the latency listener also prints one ``BENCH_JOB <i> <epoch>`` line per
probe job it starts. Anything else goes to stderr. Exit code 0 on success.

Actions (an adapter may lack some; run.py then shows "n/a"):

    info                         {"system", "version", "module"}
    install                      create the system's schema in DSN
    add-finished --n N           insert N finished jobs in one statement, VACUUM ANALYZE
    defer --n N --batch-size B   defer N no-op jobs, one call each (B=0) or B per call;
                                 {"n", "seconds"}
    prefill --n N                queue N no-op jobs (not timed)
    backlog --n N --shape S      put N jobs of a backlog shape in the table with one
                                 statement (triggers off), VACUUM ANALYZE (see SHAPES)
    work --concurrency C         one worker until the queue is empty; {"rss_kb"}
    work --concurrency C --n K [--queues Q]
                                 one worker (of queues Q, comma-separated; default all)
                                 stopped once it has run K no-op jobs; {"rss_kb"}
    span --since EPOCH           {"first_start", "last_finish", "finished"}: epoch times
                                 of the first job start and last job end at or after
                                 EPOCH, from the system's own tables
    listen [--queues Q]          an idle worker (concurrency 1) running probe jobs until
                                 SIGTERM; each probe prints BENCH_JOB at its start
    produce --n N --interval S [--priority P]
                                 defer one warm-up probe (i=-1), then probe i=0..N-1 one
                                 every S seconds; {"returned": [epoch when the defer of
                                 probe i returned, ...]}
    retention                    time the system's retention of the finished jobs
                                 of add-finished (a day old); {"seconds", "deleted"}

An adapter whose system keeps no row of a finished job (graphile-worker) returns
the span from its work action instead: {"rss_kb", "span": {...}}, taken in the
worker process; run.py then uses it instead of calling span.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable

# The no-op task every system runs, under the same name.
TASK = "noop"
# The latency probe: its body only prints when it started.
PROBE = "probe"
# The probe each producer defers first, to warm its connection up (not measured).
WARMUP_PROBE = -1
# Pause between that warm-up probe and the measured ones.
WARMUP_PAUSE = 0.3

# The backlog shapes of the scale rows (issue 13): what the table holds when
# the worker starts, besides the jobs it is measured on.
#   waiting     N no-op jobs waiting in the worker's queue (it runs them)
#   scheduled   N no-op jobs scheduled a day later
#   locks       N no-op jobs on 1,000 locks (it runs them)
#   hot_lock    N no-op jobs behind one lock whose holder runs (never ends)
#   queues      N no-op jobs in 199 queues the worker does not serve; it
#               serves "default" (200 queues in all)
SHAPES = ("waiting", "scheduled", "locks", "hot_lock", "queues")


def procrastinate_backlog_sql(shape: str) -> list[str]:
    """The backlog in procrastinate's table shape (3.10's and ours share
    these columns), parameters (task name, N)."""
    args = "jsonb_build_object('i', g)"
    series = "from generate_series(1, %s) as g"
    if shape == "waiting":
        return [
            "insert into procrastinate_jobs (queue_name, task_name, args) "
            f"select 'default', %s, {args} {series}"
        ]
    if shape == "scheduled":
        return [
            "insert into procrastinate_jobs (queue_name, task_name, args, scheduled_at) "
            f"select 'default', %s, {args}, now() + interval '1 day' {series}"
        ]
    if shape == "locks":
        return [
            "insert into procrastinate_jobs (queue_name, task_name, args, lock) "
            f"select 'default', %s, {args}, 'lock-' || mod(g, 1000) {series}"
        ]
    if shape == "hot_lock":
        return [
            # the holder: running, by no worker that could end it
            "insert into procrastinate_jobs (queue_name, task_name, args, lock, status) "
            "select 'default', %s, '{}', 'hot', 'doing' where %s > 0",
            "insert into procrastinate_jobs (queue_name, task_name, args, lock) "
            f"select 'default', %s, {args}, 'hot' {series}",
        ]
    if shape == "queues":
        return [
            "insert into procrastinate_jobs (queue_name, task_name, args) "
            f"select 'other-' || mod(g, 199), %s, {args} {series}"
        ]
    raise SystemExit(f"unknown backlog shape {shape!r}")


class StopAfter:
    """Counts the no-op jobs a worker ran; set once it has run `target`."""

    def __init__(self) -> None:
        self.target = 0
        self.done = 0
        self.event = None

    def arm(self, target: int) -> None:
        import asyncio

        self.target = target
        self.done = 0
        self.event = asyncio.Event()

    def ran_one(self) -> None:
        self.done += 1
        if self.event is not None and self.target and self.done >= self.target:
            self.event.set()


STOP_AFTER = StopAfter()


def emit(result: dict[str, Any]) -> None:
    """Print the action's result for run.py."""
    sys.stdout.write("BENCH_RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def probe_started(i: int) -> None:
    """Called first thing in a probe job: reports when it started."""
    now = time.time()
    sys.stdout.write(f"BENCH_JOB {i} {now:.6f}\n")
    sys.stdout.flush()


def vm_hwm_kb(pid: int | str = "self") -> int | None:
    """Peak resident set size of a process (VmHWM), in kB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("action")
    p.add_argument("--dsn", default="")
    p.add_argument("--n", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--since", type=float, default=0.0)
    p.add_argument("--interval", type=float, default=0.05)
    p.add_argument("--shape", default="")
    p.add_argument("--queues", default="", help="comma-separated; empty: all queues")
    p.add_argument("--priority", type=int, default=0)
    p.add_argument(
        "--seconds", type=float, default=0.0,
        help="prefill: each job sleeps this long (ours only: the queue limit row)",
    )
    p.add_argument(
        "--processes", type=int, default=1,
        help="supervise: worker processes of one `procrastinate worker --processes` (ours only)",
    )
    p.add_argument(
        "--store-result", type=int, default=0,
        help="1: the jobs keep a small result (ours only: stored results)",
    )
    return p.parse_args(argv)


def main(actions: dict[str, Callable[[argparse.Namespace], Any]]) -> None:
    """Run the action named on the command line; its return value is emitted."""
    args = parse_args()
    action = actions.get(args.action)
    if action is None:
        sys.stderr.write(f"unsupported action {args.action!r}\n")
        sys.exit(3)
    result = action(args)
    if result is not None:
        emit(result)
    sys.stdout.flush()
    sys.stderr.flush()
    # Do not wait for stray threads or pools on the way out.
    os._exit(0)


async def paced(n: int, interval: float, first: int = 0):
    """Yield first..first+n-1, one every `interval` seconds (async sleep in between)."""
    import asyncio

    start = time.time()
    for k in range(n):
        delay = start + k * interval - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield first + k
