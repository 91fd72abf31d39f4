"""The Node.js worker of examples/node-worker, a user of the SQL contract,
beside Python workers on one database (issue 12, part 7).

Jobs deferred from Python (the App's task API) are run by the Node worker;
jobs the Node side deferred (``node defer.js``: procrastinate_defer_job) are
run by a Python worker. Both record each run in ``example_runs`` (the task
``record_run``, in tasks.js and node_worker_app.py), so that the test counts
runs per job. A Node worker killed mid-job has its job rescued by a Python
worker. Workers are real processes; every wait is a query polled until a
deadline, never a fixed sleep.

Node.js and npm are required, not optional: `make install/system` installs
them; ``npm ci`` runs here when node_modules is missing or stale.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import psycopg.conninfo
import pytest

import npm_packages
from fault_proxy import FaultProxy
from node_worker_app import RUNS_TABLE, make_app

ROOT = pathlib.Path(__file__).resolve().parents[3]
NODE_DIR = ROOT / "examples" / "node-worker"
HERE = pathlib.Path(__file__).resolve().parent
TIMEOUT = 30  # seconds: a wait longer than this fails the test
HEARTBEAT = 0.5  # heartbeat interval of every worker here, seconds
STALLED = 2.0  # lease of every worker here: silent this long, its jobs are rescued


# --- Node.js and the example's node_modules ----------------------------------------


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable, with the example's packages installed."""
    return npm_packages.installed(NODE_DIR, "tests/py/examples/test_node_worker.py")


# --- worker processes ------------------------------------------------------------------


@dataclasses.dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: pathlib.Path

    def signal(self, number: int) -> None:
        self.popen.send_signal(number)

    def wait(self, timeout: float = TIMEOUT) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit within {timeout} s") from None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Workers:
    """Node and Python worker processes on one database; their logs are in
    tmp_path (printed when a test fails)."""

    def __init__(self, node: str, db_name: str, db_dsn: str, tmp_path: pathlib.Path):
        self.node = node
        self.db_name = db_name
        self.db_dsn = db_dsn
        self.tmp_path = tmp_path
        self.processes: list[Process] = []

    def _start(
        self, name: str, command: list[str], cwd: pathlib.Path, env: dict[str, str]
    ) -> Process:
        log = self.tmp_path / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def node_env(self) -> dict[str, str]:
        # libpq variables, which pg reads: the test server, this test's database
        return {**os.environ, "PGDATABASE": self.db_name}

    def start_node(
        self,
        queues: str,
        poll: float = 5.0,
        stalled: float = STALLED,
        env: dict[str, str] | None = None,
    ) -> Process:
        return self._start(
            f"node-{len(self.processes)}",
            [
                self.node, "worker.js", f"--queues={queues}", "--concurrency=4",
                f"--heartbeat={HEARTBEAT}", f"--stalled-after={stalled}", f"--poll={poll}",
            ],
            NODE_DIR,
            {**self.node_env(), **(env or {})},
        )

    def start_python(self, queues: str) -> Process:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "python")]),
            "PYTHONUNBUFFERED": "1",
            "NODE_EXAMPLE_DSN": self.db_dsn,
            "NODE_EXAMPLE_HEARTBEAT": str(HEARTBEAT),
            "NODE_EXAMPLE_STALLED": str(STALLED),
        }
        return self._start(
            f"python-{len(self.processes)}",
            [
                sys.executable, "-m", "procrastinate", "--verbose", "--app=node_worker_app.app",
                "worker", f"--queues={queues}", f"--name=python-{len(self.processes)}",
            ],
            ROOT,
            env,
        )

    def node_defer(self, task_name: str, args: dict[str, Any], queue: str) -> int:
        """Defer a job as the Node service would: `node defer.js`."""
        result = subprocess.run(
            [self.node, "defer.js", task_name, json.dumps(args), f"--queue={queue}"],
            cwd=NODE_DIR,
            env=self.node_env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return int(result.stdout.strip())

    def check_running(self) -> None:
        """Fail at once, with its log, if a worker died on its own."""
        for process in self.processes:
            code = process.popen.poll()
            if code is not None and code != -signal.SIGKILL and code != 0:
                raise AssertionError(
                    f"{process.name} exited with {code}:\n{process.output()}"
                )

    def close(self) -> None:
        for process in self.processes:
            if process.popen.poll() is None:
                process.popen.kill()
                process.popen.wait(10)
        for process in self.processes:
            print(f"--- {process.name} (exit {process.popen.returncode}) ---")
            print(process.output())


@pytest.fixture
def workers(node: str, db_name: str, db_dsn: str, tmp_path: pathlib.Path) -> Iterator[Workers]:
    with psycopg.connect(db_dsn, autocommit=True) as connection:
        connection.execute(RUNS_TABLE)
    harness = Workers(node, db_name, db_dsn, tmp_path)
    yield harness
    harness.close()


def wait_until(predicate: Callable[[], Any], what: str, workers: Workers) -> Any:
    """Poll ``predicate`` (a query) until it returns something true."""
    deadline = time.monotonic() + TIMEOUT
    while not (value := predicate()):
        workers.check_running()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {TIMEOUT} s waiting for {what}")
        time.sleep(0.05)
    return value


# --- queries ------------------------------------------------------------------------------


def jobs(db: psycopg.Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = db.execute(
        "select id, queue_name, task_name, status::text as status, attempts, rescue_count, "
        "worker_id, last_error, last_error_types from procrastinate_jobs where id = any(%s)",
        [ids],
    ).fetchall()
    return {row["id"]: row for row in rows}


def all_final(db: psycopg.Connection, ids: list[int]) -> bool:
    rows = jobs(db, ids).values()
    return len(rows) == len(ids) and all(row["status"] not in ("todo", "doing") for row in rows)


def runs_of(db: psycopg.Connection, job_id: int) -> list[dict[str, Any]]:
    return db.execute(
        "select attempt, runner, ended_at is not null as ended from example_runs "
        "where job_id = %s order by run_id",
        [job_id],
    ).fetchall()


def worker_ids(db: psycopg.Connection) -> list[int]:
    return [row["id"] for row in db.execute("select id from procrastinate_workers order by id")]


def node_worker_id(db: psycopg.Connection) -> Any:
    row = db.execute(
        "select id from procrastinate_workers where name = 'node-worker'"
    ).fetchone()
    return row and row["id"]


# --- tests ---------------------------------------------------------------------------------


async def test_jobs_deferred_in_each_language_run_once_in_the_other(workers, db, db_dsn):
    # poll=60: the Node worker can only see the later jobs in time through
    # LISTEN/NOTIFY (Python workers poll every 0.5 s).
    node_worker = workers.start_node(queues="node", poll=60)
    python_worker = workers.start_python(queues="python")
    wait_until(lambda: len(worker_ids(db)) == 2, "both workers to register", workers)

    app = make_app(db_dsn)
    async with app.open_async():
        from_python = [
            await app.configure_task("record_run", queue="node").defer_async()
            for _ in range(10)
        ]
        failing = await app.configure_task("fail", queue="node").defer_async(message="no luck")
    from_node = [workers.node_defer("record_run", {}, queue="python") for _ in range(10)]

    every_job = [*from_python, *from_node, failing]
    wait_until(lambda: all_final(db, every_job), "every job to end", workers)

    for job_id, row in jobs(db, from_python + from_node).items():
        assert row["status"] == "succeeded", row
        assert row["attempts"] == 1, row
        runner = "node" if row["queue_name"] == "node" else "python"
        assert runs_of(db, job_id) == [{"attempt": 0, "runner": runner, "ended": True}], job_id
    assert {row["queue_name"] for row in jobs(db, from_node).values()} == {"python"}

    # A failure travels as {"types": [...], "message": ...}, the class names
    # of the JS error and its bases.
    failed = jobs(db, [failing])[failing]
    assert failed["status"] == "failed"
    assert failed["last_error"] == "no luck"
    assert failed["last_error_types"] == ["ExampleError", "Error"]

    node_worker.signal(signal.SIGTERM)
    python_worker.signal(signal.SIGTERM)
    assert node_worker.wait() == 0, node_worker.output()
    assert python_worker.wait() == 0, python_worker.output()
    assert worker_ids(db) == []  # both unregistered


async def test_sigterm_lets_the_running_job_end_then_unregisters(workers, db, db_dsn):
    node_worker = workers.start_node(queues="node")
    app = make_app(db_dsn)
    async with app.open_async():
        job_id = await app.configure_task("record_run", queue="node").defer_async(
            first_attempt_seconds=1.5
        )
    wait_until(lambda: runs_of(db, job_id), "the Node worker to start the job", workers)

    node_worker.signal(signal.SIGTERM)
    assert node_worker.wait() == 0, node_worker.output()

    assert jobs(db, [job_id])[job_id]["status"] == "succeeded"
    assert runs_of(db, job_id) == [{"attempt": 0, "runner": "node", "ended": True}]
    assert worker_ids(db) == []
    assert "unregistered (0 job(s) given back)" in node_worker.output()


async def test_a_node_worker_takes_back_a_job_whose_report_a_failover_lost(workers, db, db_dsn):
    # What a standby that missed the report would hold: the job back in
    # doing under the live worker, which no longer knows of it. No rescue
    # takes it (the lease runs); the worker's comparison does.
    node_worker = workers.start_node(queues="node")
    app = make_app(db_dsn)
    async with app.open_async():
        job_id = await app.configure_task("record_run", queue="node").defer_async()
    wait_until(
        lambda: jobs(db, [job_id])[job_id]["status"] == "succeeded", "the first run", workers
    )
    worker_id = node_worker_id(db)
    db.execute(
        "update procrastinate_jobs set status = 'doing', worker_id = %s, attempts = 0,"
        " finished_at = null where id = %s",
        [worker_id, job_id],
    )

    row = wait_until(
        lambda: (r := jobs(db, [job_id])[job_id])["status"] == "succeeded"
        and r["attempts"] == 2 and r,
        "the job taken back and run again",
        workers,
    )
    assert (row["rescue_count"], row["last_error_types"]) == (1, ["OutcomeLost"])
    assert [run["runner"] for run in runs_of(db, job_id)] == ["node", "node"]
    assert f"job {job_id}: ours in the database but unknown here" in node_worker.output()
    node_worker.signal(signal.SIGTERM)
    assert node_worker.wait() == 0, node_worker.output()


async def test_a_killed_node_worker_job_is_rescued_by_a_python_worker(workers, db, db_dsn):
    node_worker = workers.start_node(queues="node")
    app = make_app(db_dsn)
    async with app.open_async():
        # The first attempt would take a minute: the kill comes long before.
        job_id = await app.configure_task("record_run", queue="node").defer_async(
            first_attempt_seconds=60
        )
    wait_until(lambda: runs_of(db, job_id), "the Node worker to start the job", workers)
    dead_id = node_worker_id(db)
    node_worker.signal(signal.SIGKILL)
    assert node_worker.wait() == -signal.SIGKILL
    held = jobs(db, [job_id])[job_id]
    assert (held["status"], held["worker_id"]) == ("doing", dead_id)

    workers.start_python(queues="node")
    wait_until(
        lambda: jobs(db, [job_id])[job_id]["status"] not in ("todo", "doing"),
        "the Python worker to rescue the job and run it",
        workers,
    )

    job = jobs(db, [job_id])[job_id]
    assert job["status"] == "succeeded", job
    # The killed run counts: two attempts, one of them ended by a rescue.
    assert (job["attempts"], job["rescue_count"]) == (2, 1), job
    assert job["last_error_types"] == ["WorkerStalled"], job
    assert runs_of(db, job_id) == [
        {"attempt": 0, "runner": "node", "ended": False},  # killed mid-job
        {"attempt": 1, "runner": "python", "ended": True},  # completed, once
    ]
    # The dead worker's row went with the rescue; only the Python worker is left.
    assert dead_id not in worker_ids(db) and len(worker_ids(db)) == 1
    events = [
        row["type"]
        for row in db.execute(
            "select type::text from procrastinate_events where job_id = %s order by id", [job_id]
        )
    ]
    assert (events.count("started"), events.count("succeeded")) == (2, 1), events


async def test_a_node_worker_cut_off_stops_its_job_which_goes_back_to_the_queue(
    workers, db, db_dsn
):
    """The lease protocol (docs/sql-api.md): cut off from the database for
    75% of its lease, the Node worker aborts its job (reason lease_lost);
    once the link is back, the job is reported interrupted, queued again at
    once (not rescued, not failed) and run again."""
    target = psycopg.conninfo.conninfo_to_dict(db_dsn)
    host = target.get("host") or os.environ.get("PGHOST") or "127.0.0.1"
    if host.startswith("/"):  # a socket directory: the server also listens on TCP
        host = "127.0.0.1"
    proxy = FaultProxy(host, int(target.get("port") or os.environ.get("PGPORT") or 5432))
    try:
        node_worker = workers.start_node(
            queues="node", stalled=4.0, env={"PGHOST": "127.0.0.1", "PGPORT": str(proxy.port)}
        )
        app = make_app(db_dsn)
        async with app.open_async():
            job_id = await app.configure_task("record_run", queue="node").defer_async(
                first_attempt_seconds=60
            )
        wait_until(lambda: runs_of(db, job_id), "the Node worker to start the job", workers)

        proxy.set_mode("blackhole")
        wait_until(
            lambda: "stopping 1 running job(s)" in node_worker.output(),
            "the Node worker to fence itself",
            workers,
        )
        proxy.set_mode("pass")
        wait_until(
            lambda: jobs(db, [job_id])[job_id]["status"] == "succeeded",
            "the job to run again and succeed",
            workers,
        )
    finally:
        proxy.close()

    job = jobs(db, [job_id])[job_id]
    assert (job["attempts"], job["rescue_count"]) == (2, 0), job
    assert [run["attempt"] for run in runs_of(db, job_id)] == [0, 1]
    events = [
        row["type"]
        for row in db.execute(
            "select type::text from procrastinate_events where job_id = %s order by id", [job_id]
        )
    ]
    assert "deferred_for_retry" in events and events.count("started") == 2, events
    assert "lease renewed: fetching again" in node_worker.output()
