"""``procrastinate worker --processes N``: a supervisor and N worker
processes, run as real processes against a real database. Waits are on the
database (registered workers, job runs) or on the supervisor's output."""

from __future__ import annotations

import json
import os
import signal
import socket

import httpx
import psycopg
import pytest

from procrastinate import supervisor

from acceptance_helpers import release, wait_until


def workers(db: psycopg.Connection) -> list[dict]:
    return db.execute(
        "select id, name, pid from procrastinate_workers order by name, id"
    ).fetchall()


def runs(db: psycopg.Connection, tag: str) -> list[dict]:
    return db.execute(
        "select * from acceptance_runs where tag = %s and task <> 'release' order by id", [tag]
    ).fetchall()


def job_statuses(db: psycopg.Connection) -> list[tuple[str, int]]:
    rows = db.execute(
        "select status::text as status, attempts from procrastinate_jobs order by id"
    ).fetchall()
    return [(row["status"], row["attempts"]) for row in rows]


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie waiting for its parent does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def start(background, db):
    """background(), and at the end no process left even when the test
    failed half-way: the supervisor is killed first (so that it restarts
    nothing), then each worker process still registered (killed with its
    supervisor, one would stop gracefully, and wait for ever for a hold job
    or for a database that is gone)."""
    started = []

    def run(*args: str, **kwargs):
        process = background(*args, **kwargs)
        started.append(process)
        return process

    yield run
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait(10)
    for row in workers(db):
        if alive(row["pid"]):
            os.kill(row["pid"], signal.SIGKILL)


def two_registered(db: psycopg.Connection) -> list[dict]:
    rows = workers(db)
    return rows if len(rows) == 2 else []


def test_two_processes_run_jobs_in_two_pids(run_cli, start, db):
    # One job per process at a time, none claimed ahead: the second of two
    # jobs that can only end together must run in the other process.
    worker = start("worker", "--processes", "2", "--prefetch", "0")
    registered = wait_until(lambda: two_registered(db), what="two registered workers")
    assert [row["name"] for row in registered] == ["worker-1", "worker-2"]
    pids = {row["pid"] for row in registered}
    assert len(pids) == 2 and worker.process.pid not in pids

    for _ in range(2):
        assert run_cli("defer", "meet", '{"tag": "pair", "count": 2}').returncode == 0
    wait_until(lambda: job_statuses(db) == [("succeeded", 1)] * 2, what="both jobs succeeded")

    assert {run["pid"] for run in runs(db, "pair")} == pids
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output


def test_sigterm_lets_each_process_finish_its_job(run_cli, start, db):
    worker = start("worker", "--processes", "2", "--prefetch", "0")
    pids = {row["pid"] for row in wait_until(lambda: two_registered(db), what="two workers")}
    for _ in range(2):
        run_cli("defer", "hold", '{"tag": "busy"}')
    wait_until(lambda: len(runs(db, "busy")) == 2, what="both jobs running")
    # The ops view sees two live workers, each running its job.
    stats = db.execute(
        "select name, pid, running_jobs, alive from procrastinate_worker_stats order by name"
    ).fetchall()
    assert [(row["name"], row["running_jobs"], row["alive"]) for row in stats] == [
        ("worker-1", 1, True), ("worker-2", 1, True)
    ]
    assert {row["pid"] for row in stats} == pids

    worker.signal(signal.SIGTERM)
    wait_until(lambda: worker.output.count("Stop requested") == 3, what="stop passed on")
    assert job_statuses(db) == [("doing", 0)] * 2  # still running: the stop waits
    release(db, "busy")

    assert worker.wait() == 0, worker.output
    assert job_statuses(db) == [("succeeded", 1)] * 2
    assert all(run["ended_at"] is not None for run in runs(db, "busy"))
    assert workers(db) == []  # both unregistered
    assert not any(alive(pid) for pid in pids)
    assert "Every worker process stopped" in worker.output


def test_sigterm_to_every_process_at_once_is_one_graceful_stop(run_cli, start, db):
    # What systemd does by default (KillMode=control-group): the supervisor's
    # stop request must not count as a second signal in the worker processes.
    worker = start("worker", "--processes", "2", "--prefetch", "0")
    pids = {row["pid"] for row in wait_until(lambda: two_registered(db), what="two workers")}
    for _ in range(2):
        run_cli("defer", "hold", '{"tag": "unit"}')
    wait_until(lambda: len(runs(db, "unit")) == 2, what="both jobs running")

    for pid in (worker.process.pid, *pids):
        os.kill(pid, signal.SIGTERM)
    wait_until(lambda: worker.output.count("Stop requested") == 3, what="every stop seen")
    assert "Immediate stop requested" not in worker.output
    assert job_statuses(db) == [("doing", 0)] * 2
    release(db, "unit")

    assert worker.wait() == 0, worker.output
    assert job_statuses(db) == [("succeeded", 1)] * 2
    assert workers(db) == []


def test_second_signal_stops_every_process_at_once(run_cli, start, db):
    worker = start("worker", "--processes", "2", "--prefetch", "0")
    pids = {row["pid"] for row in wait_until(lambda: two_registered(db), what="two workers")}
    for _ in range(2):
        run_cli("defer", "hold", '{"tag": "stubborn"}')
    wait_until(lambda: len(runs(db, "stubborn")) == 2, what="both jobs running")

    worker.signal(signal.SIGTERM)
    wait_until(lambda: worker.output.count("Stop requested") == 3, what="stop passed on")
    worker.signal(signal.SIGINT)

    assert worker.wait() == 0, worker.output
    # As with one worker: the sync jobs could not be stopped, the database took them back.
    assert job_statuses(db) == [("todo", 1)] * 2
    assert workers(db) == []
    assert not any(alive(pid) for pid in pids)
    release(db, "stubborn")  # the threads left behind end with their processes


def test_a_killed_process_is_replaced(run_cli, start, db):
    worker = start("worker", "--processes", "2", "--prefetch", "0")
    registered = wait_until(lambda: two_registered(db), what="two workers")
    killed = registered[0]
    os.kill(killed["pid"], signal.SIGKILL)

    def replaced() -> list[dict]:
        return [row for row in workers(db)
                if row["name"] == killed["name"] and row["pid"] != killed["pid"]]

    new = wait_until(replaced, what="a new worker process")[0]
    assert new["id"] != killed["id"]  # registered as a new worker
    assert f"{killed['name']} (pid {killed['pid']}) ended unexpectedly (killed by SIGKILL)" \
        in worker.output
    # Jobs keep running, in both processes.
    for _ in range(2):
        run_cli("defer", "meet", '{"tag": "after", "count": 2}')
    wait_until(lambda: job_statuses(db) == [("succeeded", 1)] * 2, what="both jobs succeeded")
    assert {run["pid"] for run in runs(db, "after")} == {new["pid"], registered[1]["pid"]}

    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output


def test_processes_stop_when_the_supervisor_is_gone(run_cli, start, db):
    worker = start("worker", "--processes", "2", "--prefetch", "0")
    pids = {row["pid"] for row in wait_until(lambda: two_registered(db), what="two workers")}
    run_cli("defer", "hold", '{"tag": "orphan"}')
    wait_until(lambda: runs(db, "orphan"), what="job running")

    worker.signal(signal.SIGKILL)
    assert worker.wait() == -signal.SIGKILL
    wait_until(lambda: worker.output.count("The supervisor is gone: stopping") == 2,
               what="both processes saw it")
    # A graceful stop: the running job ends first.
    assert job_statuses(db) == [("doing", 0)]
    release(db, "orphan")
    wait_until(lambda: not any(alive(pid) for pid in pids), what="both processes ended")
    assert job_statuses(db) == [("succeeded", 1)]
    assert workers(db) == []


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_processes_must_be_a_positive_number(run_cli, value):
    result = run_cli("worker", "--processes", value)
    assert result.returncode == 2
    assert "argument --processes:" in result.stderr
    assert ("must be at least 1" if value != "two" else "expected a whole number") \
        in result.stderr
    from_env = run_cli("worker", env={"PROCRASTINATE_WORKER_PROCESSES": value})
    assert from_env.returncode == 2
    assert "invalid value in PROCRASTINATE_WORKER_PROCESSES" in from_env.stderr


def test_a_refused_connection_fails_before_any_process_starts(run_cli):
    result = run_cli("worker", "--processes", "2", env={"PGDATABASE": "no_such_database"})
    assert result.returncode == 1
    assert 'database "no_such_database" does not exist' in result.stderr
    assert "Started worker process" not in result.stderr


def test_processes_failing_at_start_make_the_supervisor_give_up(run_cli, empty_db_dsn):
    # The database answers, but has no schema: each worker process exits
    # with code 1 at once.
    dbname = psycopg.conninfo.conninfo_to_dict(empty_db_dsn)["dbname"]
    result = run_cli("worker", "--processes", "2", env={"PGDATABASE": dbname}, timeout=120)

    assert result.returncode == 1, result.stderr
    starts = result.stderr.count("Started worker process worker-")
    # One slot gave up after MAX_FAILED_STARTS; the other was stopped then.
    assert supervisor.MAX_FAILED_STARTS + 1 <= starts <= 2 * supervisor.MAX_FAILED_STARTS
    assert f"{supervisor.MAX_FAILED_STARTS} failed starts in a row, giving up" in result.stderr
    assert "procrastinate schema --apply" in result.stderr


def test_one_shot_processes_end_with_their_work(run_cli, db):
    for _ in range(2):
        run_cli("defer", "meet", '{"tag": "once", "count": 2}')
    result = run_cli("worker", "--processes", "2", "--prefetch", "0", "--one-shot")
    assert result.returncode == 0, result.stderr
    assert job_statuses(db) == [("succeeded", 1)] * 2
    assert len({run["pid"] for run in runs(db, "once")}) == 2


def free_port_pair() -> int:
    """A port P such that P and P + 1 were both free a moment ago."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise AssertionError("no two consecutive free ports")


def test_each_process_serves_its_metrics_on_its_own_port_and_logs_json(start, db):
    port = free_port_pair()
    worker = start(
        "--log-format", "json", "worker", "--processes", "2",
        "--metrics-port", str(port), "--metrics-host", "127.0.0.1",
    )
    wait_until(lambda: worker.output.count('"serve_metrics"') == 2, what="two metrics servers")

    lines = [json.loads(line) for line in worker.output.splitlines()]  # every line is JSON
    serving = {line["worker"]: line["metrics_port"] for line in lines
               if line.get("action") == "serve_metrics"}
    assert serving == {"worker-1": port, "worker-2": port + 1}
    for each in serving.values():
        text = httpx.get(f"http://127.0.0.1:{each}/metrics").text
        assert "procrastinate_worker_concurrency" in text
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output
    assert lines[0]["message"] == "Launching 2 worker processes on all queues"
