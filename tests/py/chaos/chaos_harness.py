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
from collections.abc import Callable
from typing import Any

import psycopg
import psycopg.rows

ROOT = pathlib.Path(__file__).resolve().parents[3]
#: Where logs and summary.txt go (CHAOS_OUT: another folder, so that two
#: runs of the suite in one checkout do not mix their logs).
OUT = pathlib.Path(os.environ.get("CHAOS_OUT") or ROOT / ".chaos")
HEARTBEAT = 0.5  # update_heartbeat_interval of the workers
STALLED = 2.0  # stalled_worker_timeout of the workers
#: Allowance on top of stalled_worker_timeout + one heartbeat, for a rescue
#: transaction and the scheduling of the rescuing worker's tick.
TOLERANCE = 1.0
RECOVERY_BOUND = STALLED + HEARTBEAT + TOLERANCE
FINAL = ("succeeded", "failed", "cancelled", "aborted")
#: Connections one worker may hold: its pool (max_size in chaos_app), its
#: listening connection and its heartbeat thread's.
CONNECTIONS_PER_WORKER = 4 + 1 + 1

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
        record_dsn: str | None = None,
    ) -> Worker:
        name = f"w{len(self.workers)}"
        log = self.dir / f"{name}.log"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(pathlib.Path(__file__).parent), str(ROOT / "python")]
            ),
            "CHAOS_DSN": dsn or self.dsn,
            "CHAOS_RECORD_DSN": record_dsn or self.dsn,
            "CHAOS_HEARTBEAT": str(HEARTBEAT),
            "CHAOS_STALLED": str(STALLED),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        command = [
            sys.executable, "-m", "procrastinate", "--verbose", "--app=chaos_app.app",
            # Times in the log, to read a recovery's steps against the runs.
            "--log-format=%(asctime)s %(levelname)s:%(name)s:%(message)s",
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

    def wait_busy(self, workers: list[Worker], runs: int = 1, timeout: float = 15.0) -> None:
        """Until each of ``workers`` is running at least ``runs`` jobs."""
        deadline = time.monotonic() + timeout
        while not all(len(self.runs_in_flight(w.process.pid)) >= runs for w in workers):
            if time.monotonic() > deadline:
                raise AssertionError(f"not every worker is running {runs} job(s) after "
                                     f"{timeout} s\n{self.log_text()}")
            time.sleep(0.05)

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
            except subprocess.TimeoutExpired as error:
                worker.process.kill()
                worker.process.wait(5)
                raise AssertionError(
                    f"worker {worker.name} did not stop within {timeout} s"
                ) from error

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

    def report(self, record_property: Any = None, extra: dict[str, Any] | None = None
               ) -> dict[str, Any]:
        """The figures of the scenario; ``extra`` adds the scenario's own
        figures to the summary line."""
        jobs = self.query(
            "select id, status::text as status, lock, rescue_count from procrastinate_jobs"
        )
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
            for (_, e1, j1), (s2, _, j2) in zip(spans, spans[1:], strict=False):
                if s2 < e1:
                    overlaps.append((lock, j1, j2, (e1 - s2).total_seconds()))
        concurrent = _concurrent_runs(runs, kill_end, far)
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
            "concurrent_duplicates": len(concurrent),
            "rescued_jobs": sum(1 for job in jobs if job["rescue_count"]),
            "faults": len(self.faults),
            "recover_seconds": [round(r, 2) for r in recoveries],
            "max_recover_seconds": round(max(recoveries), 2) if recoveries else None,
            "recovery_bound": RECOVERY_BOUND,
            "wall_seconds": round(time.monotonic() - self.started, 1),
            **(extra or {}),
        }
        line = json.dumps(summary, default=str)
        with (OUT / "summary.txt").open("a") as out:
            out.write(line + "\n")
        print(f"\nCHAOS {line}")
        if record_property is not None:
            for key, value in summary.items():
                record_property(f"chaos_{key}", value)
        summary["lost_ids"], summary["stuck_ids"], summary["overlap_list"] = lost, stuck, overlaps
        summary["concurrent_list"], summary["run_rows"] = concurrent, runs
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
            result.append(self.taken_back_after(held, fault["at"]))
        return result

    def taken_back_after(self, job_ids: list[int], at: Any) -> float:
        """Seconds from ``at`` until the last of ``job_ids`` taken back was
        (its first rescue event after ``at``); inf if none was."""
        rows = self.query(
            "select max(first_at) as at from ("
            " select min(e.at) as first_at from procrastinate_events as e"
            " where e.job_id = any(%s) and e.at >= %s"
            " and e.type in ('deferred_for_retry', 'failed', 'aborted')"
            " group by e.job_id) as t",
            [list(job_ids), at],
        )
        if not rows or rows[0]["at"] is None:
            return float("inf")
        return max(0.0, (rows[0]["at"] - at).total_seconds())

    def first_run_after(self, at: Any, pid: int | None = None, timeout: float = 30.0) -> float:
        """Seconds from ``at`` (database time) to the first run started
        after it (by process ``pid``, if given): how long service took to
        come back. Polls until ``timeout``; inf if none started."""
        return self._seconds_until(
            "select min(started_at) as t from chaos_runs where started_at > %(at)s"
            " and (%(pid)s::integer is null or pid = %(pid)s::integer)",
            at, pid, timeout,
        )

    def first_fetch_after(self, at: Any, timeout: float = 30.0) -> float:
        """Seconds from ``at`` to the first job claimed after it (its
        ``started`` event): a worker fetching again, which jobs claimed
        ahead before ``at`` and run after it do not show. inf if none."""
        return self._seconds_until(
            "select min(at) as t from procrastinate_events where type = 'started' and at > %(at)s",
            at, None, timeout,
        )

    def first_fetched_run_after(self, at: Any, pid: int, timeout: float = 30.0) -> float:
        """Seconds from ``at`` to the start of a run by ``pid`` of a job
        claimed after ``at`` (its ``started`` event): the worker's link
        works again (a run it claimed before would not say so). inf if none."""
        return self._seconds_until(
            "select min(r.started_at) as t from chaos_runs as r"
            " join procrastinate_events as e on e.job_id = r.job_id"
            " where r.pid = %(pid)s and r.started_at > %(at)s"
            " and e.type = 'started' and e.at > %(at)s",
            at, pid, timeout,
        )

    def _seconds_until(self, sql: str, at: Any, pid: int | None, timeout: float) -> float:
        """Seconds from ``at`` to the time ``t`` that ``sql`` (parameters
        ``at`` and ``pid``) returns, polled until it returns one or until
        ``timeout``; inf then."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.query(sql, {"at": at, "pid": pid})[0]["t"]
            if found is not None:
                return (found - at).total_seconds()
            if time.monotonic() > deadline:
                return float("inf")
            time.sleep(0.05)

    def split_repeated_runs(self, explained: Callable[[dict], bool]) -> tuple[int, list[tuple]]:
        """Runs beyond the first of their job: how many the fault explains
        (``explained(first run)``: the fault cut the first run, whose
        outcome was lost), and the others, as (job id, first run's pid, its
        start, its end, the later run's pid)."""
        count, others = 0, []
        for first, later in repeated_runs(self.query("select * from chaos_runs")):
            if explained(first):
                count += 1
            else:
                others.append((first["job_id"], first["pid"], first["started_at"],
                               first["ended_at"], later["pid"]))
        return count, others

    def runs_in_flight(self, pid: int) -> list[int]:
        """Jobs process ``pid`` is running now (by the run records)."""
        rows = self.query(
            "select job_id from chaos_runs where pid = %s and ended_at is null", [pid]
        )
        return [row["job_id"] for row in rows]

    def defer_jobs(self, jobs: list[dict[str, Any]]) -> list[int]:
        """Defer jobs given as procrastinate_defer_jobs_v2 takes them."""
        rows = self.query(
            "select id from procrastinate_defer_jobs_v2(%s::jsonb)", [json.dumps(jobs)]
        )
        self._count += len(jobs)
        return [row["id"] for row in rows]

    def log_text(self, tail: int | None = 4000) -> str:
        """The workers' logs (the last ``tail`` characters of each)."""
        return "\n".join(
            f"===== {w.name} =====\n"
            + (w.log.read_text(errors="replace") if w.log.exists() else "(no log)")[-(tail or 0):]
            for w in self.workers
        )


def _concurrent_runs(runs: list[dict], kill_end: dict, far: Any) -> list[tuple[int, float]]:
    """Runs that started while another run of the same job was still going
    (job id, seconds of overlap): two live runs of one job at once. A run
    with no end ran until its worker was killed, or until now."""
    by_job: dict[int, list[dict]] = {}
    for run in runs:
        by_job.setdefault(run["job_id"], []).append(run)
    found = []
    for job_id, job_runs in by_job.items():
        job_runs.sort(key=lambda run: run["started_at"])
        latest_end = None
        for run in job_runs:
            if latest_end is not None and run["started_at"] < latest_end:
                found.append((job_id, (latest_end - run["started_at"]).total_seconds()))
            end = run["ended_at"] or kill_end.get(run["pid"], far)
            latest_end = end if latest_end is None else max(latest_end, end)
    return found


def repeated_runs(runs: list[dict]) -> list[tuple[dict, dict]]:
    """(first run, later run) for every run beyond the first of its job."""
    first: dict[int, dict] = {}
    pairs = []
    for run in sorted(runs, key=lambda run: run["started_at"]):
        if run["job_id"] in first:
            pairs.append((first[run["job_id"]], run))
        else:
            first[run["job_id"]] = run
    return pairs


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


def check_no_concurrent_runs(summary: dict[str, Any]) -> None:
    """No job ran twice at the same time (a lease held: the cut-off worker
    stopped its run before anyone else started one)."""
    assert summary["concurrent_duplicates"] == 0, (
        f"runs of one job at the same time (job, seconds): {summary['concurrent_list']}"
    )


def check_every_job_succeeded(summary: dict[str, Any]) -> None:
    """Every job ended succeeded: in scenarios whose tasks never fail, a job
    that ended failed or aborted (rescued too often, stopped by a fencing
    worker and not run again) had its work lost, though it did run."""
    assert set(summary["statuses"]) == {"succeeded"}, (
        f"jobs whose work was not done: {summary['statuses']}"
    )


def check_cell(summary: dict[str, Any], unexplained: list[tuple] | None = None,
               cause: str = "the fault") -> None:
    """What every cell of issue 14 asserts: check() (without its recovery
    bound: each cell measures its own), no two runs of one job at once,
    every job succeeded, and no repeated run but those ``cause`` explains
    (``unexplained``: from Chaos.split_repeated_runs)."""
    check(summary, recovery=False)
    check_no_concurrent_runs(summary)
    check_every_job_succeeded(summary)
    assert not unexplained, f"repeated runs not due to {cause}: {unexplained[:20]}"
