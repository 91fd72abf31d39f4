"""The ``procrastinate`` command, run as a subprocess against a real database:
defer with the CLI, run workers with the CLI, look at the database."""

from __future__ import annotations

import itertools
import os
import signal

import psycopg
import pytest

from acceptance_helpers import wait_until


def jobs(db: psycopg.Connection) -> list[dict]:
    return db.execute(
        "select id, task_name, status::text as status, attempts, queue_name, lock, "
        "last_error_types from procrastinate_jobs order by id"
    ).fetchall()


def runs(db: psycopg.Connection) -> list[dict]:
    return db.execute("select * from acceptance_runs order by id").fetchall()


def job_status(db: psycopg.Connection, job_id: int) -> str | None:
    row = db.execute(
        "select status::text as status from procrastinate_jobs where id = %s", [job_id]
    ).fetchone()
    return row["status"] if row else None


def test_defer_then_one_shot_worker(run_cli, db):
    deferred = run_cli("defer", "sum_task", '{"a": 3, "b": 5}')
    assert deferred.returncode == 0, deferred.stderr
    assert "Launching a job: sum_task(a=3, b=5)" in deferred.stderr

    worker = run_cli("worker", "--one-shot")

    assert worker.returncode == 0, worker.stderr
    assert "Launching a worker on all queues" in worker.stderr
    assert "Job sum_task[1](a=3, b=5) ended with status: Success, lasted " in worker.stderr
    assert " - Result: 8" in worker.stderr
    assert [(j["task_name"], j["status"]) for j in jobs(db)] == [("sum_task", "succeeded")]


def test_verbose_lines_start_with_debug_prefix(run_cli):
    result = run_cli("-v", "worker", "--one-shot")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("DEBUG:")]
    assert lines
    assert all(line.startswith("DEBUG:procrastinate.") for line in lines)


def test_worker_options_from_environment(run_cli, db):
    run_cli("defer", "--queue", "elsewhere", "sum_task", '{"a": 1, "b": 1}')
    env = {"PROCRASTINATE_WORKER_QUEUES": "default", "PROCRASTINATE_WORKER_WAIT": "false"}

    result = run_cli("worker", env=env)

    assert result.returncode == 0, result.stderr
    assert "Launching a worker on default" in result.stderr
    assert jobs(db)[0]["status"] == "todo"  # not its queue


def test_priority_order(run_cli, db):
    for tag, priority in [("low", "-5"), ("mid", "0"), ("high", "10"), ("mid2", "0")]:
        result = run_cli("defer", "--priority", priority, "record", f'{{"tag": "{tag}"}}')
        assert result.returncode == 0, result.stderr

    result = run_cli("worker", "--one-shot", "--concurrency", "1")

    assert result.returncode == 0, result.stderr
    assert [r["tag"] for r in runs(db)] == ["high", "mid", "mid2", "low"]


def test_jobs_sharing_a_lock_never_overlap_across_two_workers(run_cli, background, db):
    for index in range(6):
        result = run_cli(
            "defer", "--lock", "the-lock", "record", f'{{"tag": "L{index}", "seconds": 0.2}}'
        )
        assert result.returncode == 0, result.stderr
    for index in range(4):
        run_cli("defer", "record", f'{{"tag": "free{index}", "seconds": 0.2}}')

    workers = [
        background("worker", "--concurrency", "3", "--fetch-job-polling-interval", "0.2")
        for _ in range(2)
    ]
    wait_until(
        lambda: all(j["status"] == "succeeded" for j in jobs(db)), what="all jobs done"
    )
    for worker in workers:
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0, worker.output

    locked = [r for r in runs(db) if r["tag"].startswith("L")]
    assert [r["tag"] for r in locked] == [f"L{i}" for i in range(6)]  # in order, too
    for before, after in itertools.pairwise(locked):
        assert before["ended_at"] <= after["started_at"], (before, after)


def test_queueing_lock(run_cli, db):
    first = run_cli("defer", "--queueing-lock", "only-one", "sum_task", '{"a": 1, "b": 2}')
    second = run_cli("defer", "--queueing-lock", "only-one", "sum_task", '{"a": 1, "b": 2}')
    ignored = run_cli(
        "defer", "-i", "--queueing-lock", "only-one", "sum_task", '{"a": 1, "b": 2}'
    )

    assert first.returncode == 0, first.stderr
    assert second.returncode == 1
    error_lines = [
        line for line in second.stderr.splitlines() if not line.startswith("Launching")
    ]
    assert len(error_lines) == 1, second.stderr
    assert "queueing lock" in error_lines[0]
    assert "Traceback" not in second.stderr
    assert ignored.returncode == 0, ignored.stderr
    assert "(ignored)" in ignored.stderr
    assert len(jobs(db)) == 1


def test_debounce_and_throttle(run_cli, db):
    for a in (1, 2):
        result = run_cli(
            "defer", "--queueing-lock", "deb", "--debounce", "60", "sum_task",
            f'{{"a": {a}, "b": 0}}',
        )
        assert result.returncode == 0, result.stderr
    for a in (3, 4):
        result = run_cli(
            "defer", "--queueing-lock", "thr", "--throttle", "60", "sum_task",
            f'{{"a": {a}, "b": 0}}',
        )
        assert result.returncode == 0, result.stderr
    rows = db.execute(
        "select queueing_lock, args from procrastinate_jobs order by queueing_lock"
    ).fetchall()
    assert [(row["queueing_lock"], row["args"]) for row in rows] == [
        ("deb", {"a": 2, "b": 0}), ("thr", {"a": 3, "b": 0})
    ]
    refused = run_cli("defer", "--debounce", "1", "sum_task", '{"a": 1, "b": 2}')
    assert refused.returncode == 1
    assert "debounce needs a queueing_lock" in refused.stderr


def test_retry_until_success(run_cli, db):
    run_cli("defer", "flaky")

    result = run_cli("worker", "--one-shot")

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Job flaky[1]() ended with status: Error, to retry") == 2
    assert "Job flaky[1]() ended with status: Success" in result.stderr
    assert "ValueError: failing on attempt 0" in result.stderr  # the traceback
    (job,) = jobs(db)
    assert (job["status"], job["attempts"]) == ("succeeded", 3)
    assert [r["attempt"] for r in runs(db)] == [0, 1, 2]


def test_abort_a_running_async_job(run_cli, background, db):
    worker = background("worker", "--abort-job-polling-interval", "0.5")
    run_cli("defer", "async_sleep", '{"seconds": 600}')
    # A run row, not status doing: a claimed-ahead job is doing before it starts.
    wait_until(lambda: runs(db), what="job started")

    db.execute("select procrastinate_cancel_job(1, abort => true)")

    wait_until(lambda: job_status(db, 1) == "aborted", what="job aborted")
    # the worker goes on
    run_cli("defer", "sum_task", '{"a": 1, "b": 1}')
    wait_until(lambda: job_status(db, 2) == "succeeded", what="next job")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert "Job async_sleep[1](seconds=600) ended with status: Aborted" in worker.output


def test_sigterm_lets_the_running_job_finish(run_cli, background, db):
    worker = background("worker")
    run_cli("defer", "record", '{"tag": "slow", "seconds": 1.5}')
    wait_until(lambda: runs(db), what="job started")

    worker.signal(signal.SIGTERM)

    assert worker.wait() == 0, worker.output
    assert job_status(db, 1) == "succeeded"
    assert runs(db)[0]["ended_at"] is not None
    assert "Stop requested" in worker.output
    assert "Job record[1](tag='slow', seconds=1.5) ended with status: Success" in worker.output
    workers = db.execute("select count(*) as n from procrastinate_workers").fetchone()
    assert workers["n"] == 0  # unregistered


def test_graceful_timeout_aborts_async_job(run_cli, background, db):
    worker = background("worker", "--shutdown-graceful-timeout", "0.5")
    run_cli("defer", "async_sleep", '{"seconds": 600}')
    # A run row, not status doing: a claimed-ahead job is doing before it starts.
    wait_until(lambda: runs(db), what="job started")

    worker.signal(signal.SIGTERM)

    assert worker.wait() == 0, worker.output
    assert job_status(db, 1) == "aborted"
    assert "1 jobs still running after graceful timeout. Aborting them" in worker.output


def test_second_signal_stops_at_once(run_cli, background, db):
    worker = background("worker")
    run_cli("defer", "record", '{"tag": "stubborn", "seconds": 600}')
    wait_until(lambda: runs(db), what="job started")

    worker.signal(signal.SIGTERM)
    wait_until(lambda: "Stop requested" in worker.output, what="first signal seen")
    worker.signal(signal.SIGINT)

    assert worker.wait() == 0, worker.output
    # The sync job could not be stopped: the database took it back.
    job = jobs(db)[0]
    assert (job["status"], job["attempts"]) == ("todo", 1)


def test_unknown_task_fails_and_worker_goes_on(run_cli, db):
    unknown = run_cli("defer", "--unknown", "no_such_task", '{"x": 1}')
    assert unknown.returncode == 0, unknown.stderr
    run_cli("defer", "sum_task", '{"a": 2, "b": 2}')

    result = run_cli("worker", "--one-shot")

    assert result.returncode == 0, result.stderr
    assert "Job no_such_task[1](x=1) ended with status: Error" in result.stderr
    first, second = jobs(db)
    assert first["status"] == "failed"
    assert any("TaskNotFound" in name for name in first["last_error_types"])
    assert second["status"] == "succeeded"


def test_defer_unknown_task_refused_without_unknown(run_cli, db):
    result = run_cli("defer", "no_such_task")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "no_such_task" in result.stderr
    assert jobs(db) == []


@pytest.mark.parametrize(
    "app_path", ["not_a_module.app", "acceptance_app.missing", "bad path", "acceptance_app"]
)
def test_bad_app_one_line_error(run_cli, app_path):
    result = run_cli("--app", app_path, "worker")
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("json_args", ["{not json", "[1, 2]", '"text"'])
def test_bad_json_args_one_line_error(run_cli, db, json_args):
    result = run_cli("defer", "sum_task", json_args)
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert jobs(db) == []


def test_usage_error_exit_code_two(run_cli):
    result = run_cli("worker", "--concurrency", "many")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_no_subcommand_shows_the_usage_as_procrastinate_does(run_cli):
    result = run_cli()
    assert result.returncode == 2
    usage, *_, error = result.stderr.strip().splitlines()
    assert usage.startswith("usage: procrastinate ")
    # procrastinate 3.x's commands, then ours (the dashboard)
    assert "{worker,defer,schema,healthchecks,shell,dashboard}" in result.stderr
    assert error.startswith("procrastinate: error: the following arguments are required: command")


def test_version(run_cli):
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("procrastinate-sqlcore ")
    assert "procrastinate 3.10 API" in result.stdout


def test_healthchecks(run_cli):
    result = run_cli("healthchecks")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "App configuration: OK",
        "DB connection: OK",
        "Found procrastinate_jobs table: OK",
        "Schema version: OK",
    ]


def test_schema_read_needs_no_database(run_cli):
    result = run_cli("schema", "--read", env={"PGPORT": "1", "PROCRASTINATE_APP": ""})
    assert result.returncode == 0, result.stderr
    assert "procrastinate_jobs" in result.stdout


def test_shell(run_cli, db):
    for args in [
        ["sum_task", '{"a": 1, "b": 2}'],
        ["sum_task", '{"a": 1, "b": 2}'],
        ["--unknown", "--queue", "other", "ns:some.task"],
        ["--lock", "lk", "sum_task", '{"a": 3, "b": 4}'],
        ["--unknown", "--queue", "failing", "ns:some.task"],
    ]:
        assert run_cli("defer", *args).returncode == 0
    assert run_cli("worker", "--one-shot", "--queues", "failing").returncode == 0

    result = run_cli(
        "shell",
        input="cancel 1\ncancel 2\ncancel 3\nlist_jobs\nlist_jobs lock=lk details\n"
        "list_queues\nlist_tasks queue=default\nlist_locks\nretry 5\nhelp\nexit\n",
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Welcome to the procrastinate shell.")
    lines = [line.removeprefix("procrastinate> ") for line in out.splitlines()]
    assert lines.count("#1 sum_task on default - [cancelled]") == 2  # cancel, list_jobs
    assert lines.count("#3 ns:some.task on other - [cancelled]") == 2
    assert "#4 sum_task on default - [todo]" in lines
    assert "#5 ns:some.task on failing - [failed]" in lines
    assert (
        "#4 sum_task on default - [todo] (attempts=0, priority=0, scheduled_at=None, "
        "args={'a': 3, 'b': 4}, lock=lk)"
    ) in lines
    assert (
        "default: 3 jobs (todo: 1, doing: 0, succeeded: 0, failed: 0, cancelled: 2, "
        "aborted: 0)"
    ) in lines
    assert (
        "failing: 1 jobs (todo: 0, doing: 0, succeeded: 0, failed: 1, cancelled: 0, "
        "aborted: 0)"
    ) in lines
    assert (
        "sum_task: 3 jobs (todo: 1, doing: 0, succeeded: 0, failed: 0, cancelled: 2, "
        "aborted: 0)"
    ) in lines
    assert not any(line.startswith("ns:some.task: ") for line in lines)  # filtered
    assert (
        "lk: 1 jobs (todo: 1, doing: 0, succeeded: 0, failed: 0, cancelled: 0, aborted: 0)"
    ) in lines
    assert "#5 ns:some.task on failing - [todo]" in lines  # retried
    # help: the commands in columns (list_limits moved list_queues to another line)
    assert "Documented commands (type help <topic>):" in lines
    assert {"list_jobs", "list_queues", "list_limits"} <= set(out.split())


def test_shell_one_command_and_errors(run_cli, db):
    run_cli("defer", "sum_task", '{"a": 1, "b": 2}')

    listed = run_cli("shell", "list_jobs")
    missing = run_cli("shell", "cancel", "42")
    garbage = run_cli("shell", "cancel", "abc")

    assert listed.stdout.strip() == "#1 sum_task on default - [todo]"
    assert listed.returncode == 0
    for result in (missing, garbage):
        assert result.returncode == 1
        assert "Traceback" not in result.stdout + result.stderr
        assert result.stdout.startswith("Error: ")


@pytest.fixture
def empty_db_env(empty_db_dsn):
    dbname = psycopg.conninfo.conninfo_to_dict(empty_db_dsn)["dbname"]
    return {"PGDATABASE": dbname}


def test_worker_refuses_a_database_without_schema(run_cli, empty_db_env):
    result = run_cli("worker", "--one-shot", env=empty_db_env)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if not line.startswith("Launching")]
    assert len(errors) == 1, result.stderr
    assert "procrastinate schema --apply" in errors[0]


def test_schema_apply_then_status(run_cli, empty_db_env):
    applied = run_cli("schema", "--apply", env=empty_db_env)
    again = run_cli("schema", env=empty_db_env)
    status = run_cli("schema", "--status", env=empty_db_env)
    worker = run_cli("worker", "--one-shot", env=empty_db_env)

    assert applied.returncode == 0, applied.stderr
    assert "Applying schema" in applied.stderr and "Done" in applied.stderr
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stderr
    assert status.returncode == 0, status.stderr
    assert "The schema is up to date." in status.stdout
    assert worker.returncode == 0, worker.stderr


def test_database_commands_need_only_libpq_environment(run_cli, empty_db_env):
    """An operator with PG* variables and no app: schema and healthchecks
    work (psql's way); commands that need tasks still ask for the app."""
    no_app = {**empty_db_env, "PROCRASTINATE_APP": ""}
    applied = run_cli("schema", "--apply", env=no_app)
    status = run_cli("schema", "--status", env=no_app)
    health = run_cli("healthchecks", env=no_app)
    worker = run_cli("worker", "--one-shot", env=no_app)

    assert applied.returncode == 0, applied.stderr
    assert "Schema applied." in applied.stderr
    assert status.returncode == 0, status.stderr
    assert "The schema is up to date." in status.stdout
    assert health.returncode == 0, health.stderr
    assert "Schema version: OK" in health.stdout
    assert worker.returncode == 1
    assert "No app given" in worker.stderr


def test_schema_help_shows_no_default_beside_each_flag(run_cli):
    result = run_cli("schema", "--help")
    assert result.returncode == 0
    assert "(default:" not in result.stdout
    assert "Install the schema in an empty database (default)" in result.stdout


def test_periodic_registrations_are_not_printed_at_info(run_cli, cli_env, tmp_path):
    (tmp_path / "periodic_cli_app.py").write_text(
        "import procrastinate\n"
        "app = procrastinate.App(connector=procrastinate.PsycopgConnector())\n"
        "@app.periodic(cron='*/5 * * * *')\n"
        "@app.task(name='tick')\n"
        "def tick(timestamp):\n"
        "    pass\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), cli_env["PYTHONPATH"]])}
    result = run_cli("--app", "periodic_cli_app.app", "schema", "--read", env=env)
    assert result.returncode == 0, result.stderr
    assert "Registering" not in result.stderr


def test_a_defer_on_a_database_without_schema_says_so_once(run_cli, empty_db_env):
    result = run_cli("defer", "sum_task", '{"a": 1, "b": 2}', env=empty_db_env)
    assert result.returncode == 1
    (error,) = [line for line in result.stderr.splitlines() if not line.startswith("Launching")]
    assert error.count("does not exist") == 1, error
    assert "procrastinate schema --apply" in error and "procrastinate schema --migrate" in error
