"""Chaos harness: real worker processes, faults, and the checks every
scenario ends with.

``Chaos`` (chaos_harness) starts workers (``python -m procrastinate --app=chaos_app.app
worker``), defers ``work`` jobs, kills things, waits until every job is
final, then ``report()`` computes from ``chaos_runs`` and the job table:
jobs lost (deferred, never run), jobs stuck (not final), runs of jobs
sharing a lock that overlapped in time, duplicates (runs beyond one per
job) and the time each fault took to recover. The summary line goes to
.chaos/summary.txt (and to the test's properties); the test asserts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time
from typing import Any

import psycopg
import psycopg.rows

ROOT = pathlib.Path(__file__).resolve().parents[3]
OUT = ROOT / ".chaos"
HEARTBEAT = 0.5  # update_heartbeat_interval of the workers
STALLED = 2.0  # stalled_worker_timeout of the workers
#: Allowance on top of stalled_worker_timeout + one heartbeat, for a rescue
#: transaction and the scheduling of the rescuing worker's tick.
TOLERANCE = 1.0
RECOVERY_BOUND = STALLED + HEARTBEAT + TOLERANCE
FINAL = ("succeeded", "failed", "cancelled", "aborted")
#: Connections one worker may hold: its pool (max_size in chaos_app) and
#: its listening connection.
CONNECTIONS_PER_WORKER = 4 + 1

SCHEMA = """
create table chaos_runs (
    run_id uuid primary key,
    job_id bigint not null,
    lock text,
    pid integer not null,
    started_at timestamptz not null,
    ended_at timestamptz
)
"""


@dataclasses.dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: pathlib.Path
    killed_at: Any = None  # database time of a SIGKILL


class Chaos:
    def __init__(self, scenario: str, dsn: str):
        self.scenario = scenario
        self.dsn = dsn
        self.dir = OUT / scenario
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.log"):
            old.unlink()
        self.workers: list[Worker] = []
        self.faults: list[dict[str, Any]] = []  # {"at": db time, "pid": ..., "kind": ...}
        self.started = time.monotonic()
        self._count = 0
        with self.connect() as connection:
            connection.execute(SCHEMA)

    # --- database -------------------------------------------------------------

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(
            self.dsn + " application_name=chaos_test",
            autocommit=True,
            row_factory=psycopg.rows.dict_row,
            connect_timeout=5,
        )

    def query(self, sql: str, params: Any = None, *, retry_for: float = 30.0) -> list[dict]:
        """Run ``sql`` on a fresh connection, retrying while the server is
        away (scenario d)."""
        deadline = time.monotonic() + retry_for
        while True:
            try:
                with self.connect() as connection:
                    cursor = connection.execute(sql, params)
                    return cursor.fetchall() if cursor.description else []
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def now(self) -> Any:
        return self.query("select clock_timestamp() as t")[0]["t"]

    def defer(self, count: int, *, locks: int = 0, seconds: tuple[float, float] = (0.2, 1.0),
              lock_share: float = 0.5) -> None:
        """Defer ``count`` work jobs; ``lock_share`` of them on one of
        ``locks`` locks."""
        rng = random.Random(f"{self.scenario}-{self._count}")
        jobs = []
        for _ in range(count):
            job: dict[str, Any] = {
                "task_name": "work",
                "args": {"seconds": round(rng.uniform(*seconds), 3)},
            }
            if locks and rng.random() < lock_share:
                job["lock"] = f"lock-{rng.randrange(locks)}"
            jobs.append(job)
        self._count += count
        self.query("select id from procrastinate_defer_jobs_v2(%s::jsonb)", [json.dumps(jobs)])

    # --- workers -----------------------------------------------------------------

    def start_worker(
        self,
        concurrency: int = 4,
        shutdown_graceful_timeout: float | None = None,
        dsn: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Worker:
        name = f"w{len(self.workers)}"
        log = self.dir / f"{name}.log"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(pathlib.Path(__file__).parent), str(ROOT / "python")]),
            "CHAOS_DSN": dsn or self.dsn,
            "CHAOS_RECORD_DSN": self.dsn,
            "CHAOS_HEARTBEAT": str(HEARTBEAT),
            "CHAOS_STALLED": str(STALLED),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        command = [
            sys.executable, "-m", "procrastinate", "--verbose", "--app=chaos_app.app",
            "worker", f"--name={name}", f"--concurrency={concurrency}",
        ]
        if shutdown_graceful_timeout is not None:
            command.append(f"--shutdown-graceful-timeout={shutdown_graceful_timeout}")
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        worker = Worker(name=name, process=process, log=log)
        self.workers.append(worker)
        return worker

    def wait_registered(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.query("select count(*) as n from procrastinate_workers")
            if rows[0]["n"] >= count:
                return
            time.sleep(0.1)
        raise AssertionError(f"{count} workers did not register in {timeout} s")

    def live(self) -> list[Worker]:
        return [w for w in self.workers if w.process.poll() is None]

    def busy_worker(self, timeout: float = 10.0) -> Worker:
        """A live worker that has at least one run going."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = {
                row["pid"]
                for row in self.query("select pid from chaos_runs where ended_at is null")
            }
            for worker in self.live():
                if worker.process.pid in pids:
                    return worker
            time.sleep(0.05)
        raise AssertionError("no worker is running a job")

    def kill(self, worker: Worker) -> None:
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait(10)
        worker.killed_at = self.now()
        self.faults.append({"kind": "kill", "at": worker.killed_at, "pid": worker.process.pid})

    def stop_all(self, timeout: float = 30.0) -> None:
        for worker in self.live():
            worker.process.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.process.wait(timeout)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(5)
                raise AssertionError(f"worker {worker.name} did not stop within {timeout} s")

    def worker_connections(self) -> int:
        """Connections the workers hold now (pool and listener)."""
        return self.query(
            "select count(*) as n from pg_stat_activity "
            "where datname = current_database() and application_name = 'chaos_worker'"
        )[0]["n"]

    def kill_all(self) -> None:
        for worker in self.live():
            worker.process.kill()
            worker.process.wait(5)

    # --- waiting and checking --------------------------------------------------------

    def wait_final(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.query(
                "select count(*) as n from procrastinate_jobs where status in ('todo', 'doing')"
            )
            if rows[0]["n"] == 0:
                return
            time.sleep(0.2)

    def report(self, record_property: Any = None) -> dict[str, Any]:
        jobs = self.query("select id, status::text as status, lock from procrastinate_jobs")
        runs = self.query("select * from chaos_runs order by started_at")
        ran = {run["job_id"] for run in runs}
        kill_end = {f["pid"]: f["at"] for f in self.faults if f["kind"] == "kill"}
        lost = [job["id"] for job in jobs if job["id"] not in ran]
        stuck = [job["id"] for job in jobs if job["status"] not in FINAL]
        # A run cut by SIGKILL ended at the latest when the kill was seen.
        far = self.now()
        intervals: dict[str, list[tuple[Any, Any, Any]]] = {}
        for run in runs:
            if run["lock"] is None:
                continue
            end = run["ended_at"] or kill_end.get(run["pid"], far)
            intervals.setdefault(run["lock"], []).append((run["started_at"], end, run["job_id"]))
        overlaps = []
        for lock, spans in intervals.items():
            spans.sort()
            for (s1, e1, j1), (s2, e2, j2) in zip(spans, spans[1:]):
                if s2 < e1:
                    overlaps.append((lock, j1, j2, (e1 - s2).total_seconds()))
        recoveries = self._recoveries(runs)
        summary = {
            "scenario": self.scenario,
            "jobs": len(jobs),
            "runs": len(runs),
            "duplicates": len(runs) - len(ran),
            "statuses": _count(job["status"] for job in jobs),
            "lost": len(lost),
            "stuck": len(stuck),
            "lock_overlaps": len(overlaps),
            "faults": len(self.faults),
            "recover_seconds": [round(r, 2) for r in recoveries],
            "max_recover_seconds": round(max(recoveries), 2) if recoveries else None,
            "recovery_bound": RECOVERY_BOUND,
            "wall_seconds": round(time.monotonic() - self.started, 1),
        }
        line = json.dumps(summary)
        with (OUT / "summary.txt").open("a") as out:
            out.write(line + "\n")
        print(f"\nCHAOS {line}")
        if record_property is not None:
            for key, value in summary.items():
                record_property(f"chaos_{key}", value)
        summary["lost_ids"], summary["stuck_ids"], summary["overlap_list"] = lost, stuck, overlaps
        return summary

    def _recoveries(self, runs: list[dict]) -> list[float]:
        """For each kill: seconds until the jobs the killed worker held were
        taken back (their rescue event)."""
        result = []
        for fault in self.faults:
            if fault["kind"] != "kill":
                continue
            held = [
                run["job_id"] for run in runs
                if run["pid"] == fault["pid"] and run["ended_at"] is None
            ]
            if not held:
                continue
            rows = self.query(
                "select max(first_at) as at from ("
                " select min(e.at) as first_at from procrastinate_events as e"
                " where e.job_id = any(%s) and e.at >= %s"
                " and e.type in ('deferred_for_retry', 'failed', 'aborted')"
                " group by e.job_id) as t",
                [held, fault["at"]],
            )
            if rows and rows[0]["at"] is not None:
                result.append(max(0.0, (rows[0]["at"] - fault["at"]).total_seconds()))
            else:
                result.append(float("inf"))
        return result

    def log_text(self, tail: int | None = 4000) -> str:
        """The workers' logs (the last ``tail`` characters of each)."""
        return "\n".join(
            f"===== {w.name} =====\n"
            + (w.log.read_text(errors="replace") if w.log.exists() else "(no log)")[-(tail or 0):]
            for w in self.workers
        )


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def check(summary: dict[str, Any], *, recovery: bool = True) -> None:
    """The assertions every scenario makes."""
    assert summary["lost"] == 0, f"jobs never run: {summary['lost_ids']}"
    assert summary["stuck"] == 0, f"jobs not final: {summary['stuck_ids']}"
    assert summary["lock_overlaps"] == 0, f"lock exclusivity violated: {summary['overlap_list']}"
    if recovery:
        assert all(r <= RECOVERY_BOUND for r in summary["recover_seconds"]), (
            f"recovery slower than {RECOVERY_BOUND} s: {summary['recover_seconds']}"
        )
