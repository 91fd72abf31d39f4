"""Upgrading a procrastinate 3.x (3.10) database in place.

procrastinate 3.10 comes from PyPI, in a throwaway virtualenv: it creates the
database with its own `procrastinate schema --apply` and defers jobs in every
state with its own API (tests/py/migrations/upstream_app.py). Then the pre
phase; 3.x workers and producers must keep working; the post phase; the
schema must be a fresh install's, every job, event and periodic-defer row
kept, and our side must run the jobs left to do.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import psycopg
import psycopg.rows
import pytest

from procrastinate import cli_schema, exceptions
from procrastinate._db import files, version
from procrastinate._db import migrations as m

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
JOB_COLUMNS_3X = (
    "id, queue_name, task_name, priority, lock, queueing_lock, args, status,"
    " scheduled_at, attempts, abort_requested, worker_id"
)


def snapshot(conn: psycopg.Connection) -> dict[str, list]:
    def rows(query: str) -> list:
        return conn.execute(query).fetchall()

    return {
        "jobs": rows(f"select {JOB_COLUMNS_3X} from procrastinate_jobs order by id"),
        "events": rows("select id, job_id, type, at from procrastinate_events order by id"),
        "periodic": rows(
            "select id, task_name, defer_timestamp, job_id, periodic_id"
            " from procrastinate_periodic_defers order by id"
        ),
        "workers": rows("select id, last_heartbeat from procrastinate_workers order by id"),
    }


def status_text(conn) -> str:
    lines: list[str] = []
    assert cli_schema.run_schema_command("status", conn, echo=lines.append) == 0
    return "\n".join(lines)


def run_our_worker(dbname: str, queues: str) -> str:
    """Our worker, from our CLI, on an app registering upstream_app's task names."""
    env = {k: v for k, v in os.environ.items() if k != "PROCRASTINATE_APP"}
    env.update(PGDATABASE=dbname, PYTHONPATH=os.pathsep.join([str(ROOT / "python"), str(HERE)]))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "procrastinate",
            "--app",
            "ours_app.app",
            "worker",
            "--one-shot",
            "--queues",
            queues,
        ],
        env=env,
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stderr


def test_upgrade_from_procrastinate_3x_in_place(upstream_db, fresh_db, connect, tool):
    name, upstream = upstream_db
    ids = upstream.script("populate")
    conn = connect(name)
    statuses = dict(conn.execute("select id, status::text from procrastinate_jobs").fetchall())
    assert {statuses[ids[k]] for k in ids if k not in ("worker", "periodic")} == {
        "todo",
        "doing",
        "succeeded",
        "failed",
        "cancelled",
        "aborted",
    }
    before = snapshot(conn)
    assert before["periodic"] and before["workers"] and len(before["events"]) > 20

    # --- an untouched 3.x database
    assert m.database_kind(conn) == "upstream"
    out = status_text(conn)
    assert "Database: procrastinate 3.x schema, not converted yet" in out
    assert "3.x conversion 0001_expand_tables" in out
    assert "recorded by the 3.x conversion's last pre step" in out
    with pytest.raises(exceptions.SchemaVersionMismatch, match="--migrate --phase pre"):
        version.check(conn)
    lines: list[str] = []
    cli_schema.run_schema_command("apply", conn, echo=lines.append)
    assert "nothing changed" in lines[0]
    assert snapshot(conn) == before

    # A 3.x session opened before the conversion, still open after its pre phase.
    old_session = connect(name)
    old_session.execute("select * from procrastinate_fetch_job_v2(array['none']::varchar[], null)")

    # --- pre
    code, lines = 0, []
    code = cli_schema.run_schema_command("migrate", conn, phase="pre", echo=lines.append)
    assert code == 0, lines
    assert m.database_kind(conn) == "converting"
    assert snapshot(conn) == before  # not one row changed
    version.check(conn)  # new workers may start now
    out = status_text(conn)
    assert "conversion under way" in out
    assert (
        "Next, once no procrastinate 3.x process runs: procrastinate schema --migrate --phase post."
        in out
    )

    # created_at comes from each job's 'deferred' event; our retry policy is off
    wrong = conn.execute(
        """select j.id from procrastinate_jobs as j
        where j.created_at is distinct from (
            select min(e.at) from procrastinate_events as e
            where e.job_id = j.id and e.type = 'deferred')
        or j.max_attempts is not null or j.rescue_count <> 0"""
    ).fetchall()
    assert wrong == []

    # --- 3.x keeps working after pre: the old session, a producer, a worker
    new_id = old_session.execute(
        "select unnest(procrastinate_defer_jobs_v1(array[row('compat', 'upstream_app.ok', 0,"
        " null, null, '{\"x\": 99}'::jsonb, null)]::procrastinate_job_to_defer_v1[]))"
    ).fetchone()[0]
    fetched = old_session.execute(
        "select id from procrastinate_fetch_job_v2(array['compat']::varchar[], null)"
    ).fetchone()[0]
    assert fetched == new_id
    old_session.execute("select procrastinate_finish_job_v1(%s, 'succeeded', false)", (new_id,))
    seen = upstream.script("exercise")
    assert seen["already_enqueued"] is True
    assert seen["fetched"] is not None and seen["status"] == "cancelled"
    assert seen["periodic"] is not None and len(seen["deferred_batch"]) == 2
    ids_abort = seen["aborted"]
    assert seen["abort_requested"] is True
    assert seen["to_abort"] == sorted([ids["doing_abort_requested"], ids_abort])
    retried = conn.execute(
        "select status::text, attempts, scheduled_at > now() + interval '50 minutes'"
        " from procrastinate_jobs where id = %s",
        (seen["to_retry"],),
    ).fetchone()
    assert retried == ("todo", 1, True)
    events = dict(
        conn.execute(
            "select job_id, array_agg(type::text order by id) from procrastinate_events"
            " where job_id in (%s, %s) group by job_id",
            (ids_abort, seen["to_retry"]),
        ).fetchall()
    )
    assert events[ids_abort] == ["deferred", "started", "abort_requested", "aborted"]
    # Only the pre migrations are applied: the events come in the order of
    # 0011's trigger (post 0031 puts scheduled first, as 3.x's row triggers).
    assert events[seen["to_retry"]] == ["deferred", "started", "deferred_for_retry", "scheduled"]
    upstream.cli("worker", "--one-shot", "--queues", "compat")
    compat = conn.execute(
        "select id, status::text from procrastinate_jobs where queue_name = 'compat' order by id"
    ).fetchall()
    assert len(compat) == 5 and {s for _, s in compat} == {"succeeded"}
    # one event per transition: 3.x's row triggers are gone, ours record them
    duplicated = conn.execute(
        """select job_id, type, count(*) from procrastinate_events
        where job_id in (select id from procrastinate_jobs where queue_name like 'compat%%')
        group by 1, 2 having count(*) > 1"""
    ).fetchall()
    assert duplicated == []
    kinds = conn.execute(
        "select array_agg(type::text order by id) from procrastinate_events where job_id = %s",
        (new_id,),
    ).fetchone()[0]
    assert kinds == ["deferred", "started", "succeeded"]
    # and our worker runs at the same time
    ours = conn.execute(
        "select procrastinate_defer_job('upstream_app.ok', '{\"x\": 200}', queue_name => 'ours')"
    ).fetchone()[0]
    run_our_worker(name, "ours")
    assert (
        conn.execute(
            "select status::text from procrastinate_jobs where id = %s", (ours,)
        ).fetchone()[0]
        == "succeeded"
    )

    # --- post (no 3.x left)
    code = cli_schema.run_schema_command("migrate", conn, phase="post", echo=lines.append)
    assert code == 0, lines
    assert m.database_kind(conn) == "current"
    assert tool.compare_databases(fresh_db, name, "fresh install", "converted 3.x") == []
    assert "The schema is up to date." in status_text(conn)
    assert m.pending(conn) == []

    # every row of before is still there, unchanged
    after = snapshot(conn)
    assert [row for row in after["jobs"] if row[0] <= before["jobs"][-1][0]] == before["jobs"]
    assert after["events"][: len(before["events"])] == before["events"]
    assert after["periodic"][: len(before["periodic"])] == before["periodic"]
    assert [w for w in after["workers"] if w in before["workers"]] == before["workers"]
    # run times of the jobs 3.x ran, from their events
    wrong = conn.execute(
        """select j.id, j.status from procrastinate_jobs as j
        where j.started_at is distinct from (
            select max(e.at) from procrastinate_events as e
            where e.job_id = j.id and e.type = 'started')
        or j.finished_at is distinct from (
            select max(e.at) from procrastinate_events as e
            where e.job_id = j.id and e.type in ('succeeded', 'failed', 'cancelled', 'aborted')
            and j.status in ('succeeded', 'failed', 'cancelled', 'aborted'))"""
    ).fetchall()
    assert wrong == []

    # --- our worker runs the jobs 3.x left to do (not those scheduled for later)
    todo_now = {
        ids[k]
        for k in (
            "todo",
            "todo_args",
            "todo_locked_first",
            "todo_locked_second",
            "todo_queueing_lock",
            "todo_other_queue",
        )
    }
    log = run_our_worker(name, "default,other")
    final = {
        row[0]: row[1:]
        for row in conn.execute(
            "select id, status::text, attempts, started_at, finished_at, last_error"
            " from procrastinate_jobs"
        ).fetchall()
    }
    assert {final[i][0] for i in todo_now} == {"succeeded"}, log
    # the one 3.x retried by hand (3.x counted that as an attempt) runs again
    # and fails again: its task raises
    assert final[ids["retried"]][:2] == ("failed", 3) and "boom" in final[ids["retried"]][4]
    # lock order kept across the upgrade
    assert final[ids["todo_locked_first"]][3] <= final[ids["todo_locked_second"]][2]
    assert final[ids["scheduled"]][0] == "todo" and final[ids["retry_scheduled"]][0] == "todo"
    assert final[ids["doing_locked"]][0] == "doing"
    assert final[ids["doing_abort_requested"]][0] == "doing"
    assert (final[ids["failed"]][0], final[ids["cancelled"]][0], final[ids["aborted"]][0]) == (
        "failed",
        "cancelled",
        "aborted",
    )
    # the still-running 3.x job keeps its lock: our worker holds back the next one
    blocked = conn.execute(
        "select procrastinate_defer_job('upstream_app.ok', lock => 'L2', queue_name => 'doing')"
    ).fetchone()[0]
    run_our_worker(name, "doing")
    assert (
        conn.execute(
            "select status::text from procrastinate_jobs where id = %s", (blocked,)
        ).fetchone()[0]
        == "todo"
    )


def test_upgrade_with_one_command_and_no_3x_running(upstream_db, fresh_db, connect, tool):
    name, upstream = upstream_db
    upstream.script("populate")
    conn = connect(name)
    dry = m.migrate(conn, dry_run=True)
    conversion = files.discover_upstream()
    assert dry.steps[: len(conversion)] == conversion
    assert dry.steps[len(conversion) :] == files.discover()[1:]
    assert m.database_kind(conn) == "upstream"
    m.migrate(conn)
    assert tool.compare_databases(fresh_db, name, "fresh install", "converted 3.x") == []


def test_pre_phase_can_be_rerun_after_a_failure(upstream_db, connect):
    """A job 3.x accepted but our checks refuse stops step 5; fixed, the rerun goes on."""
    name, _ = upstream_db
    conn = connect(name)
    bad_id = conn.execute(
        "insert into procrastinate_jobs (queue_name, task_name, args)"
        " values ('default', 'x', '[]') returning id"
    ).fetchone()[0]
    lines: list[str] = []
    assert cli_schema.run_schema_command("migrate", conn, phase="pre", echo=lines.append) == 1
    assert "0005_validate_checks" in lines[-1] and "cannot be converted" in lines[-1]
    assert f"at most 20 shown: {bad_id})" in lines[-1]
    states = {(s.upstream, s.number): s for s in m.status(conn)}
    assert states[(True, 4)].applied_at is not None and states[(True, 5)].applied_at is None
    with pytest.raises(exceptions.SchemaVersionMismatch):
        version.check(conn)
    conn.execute("update procrastinate_jobs set args = '{}' where args = '[]'")
    # The conversion's last pre steps, then our own pre migrations after 0001.
    later = [x.number for x in files.discover() if x.number > 1 and x.phase == "pre"]
    assert [s.number for s in m.migrate(conn, phase="pre").steps] == [5, 6, *later]
    version.check(conn)


def test_post_before_pre_is_refused(upstream_db, connect):
    name, _ = upstream_db
    with pytest.raises(m.MigrationError, match="--phase pre` first"):
        m.migrate(connect(name), phase="post")


def test_older_3x_schema_is_refused(upstream_db, connect):
    name, _ = upstream_db
    conn = connect(name)
    conn.execute(
        "drop function procrastinate_retry_job_v2(bigint, timestamptz, integer, varchar, varchar)"
    )
    with pytest.raises(m.UnsupportedDatabase, match="older than 3.10.*procrastinate_retry_job_v2"):
        m.migrate(conn)
    assert m.database_kind(conn) == "upstream"


DJANGO_PROJECT = ROOT / "tests" / "py" / "django" / "project"


def test_a_django_project_migrated_by_3x_migrates_on(new_db, upstream_venv, connect, tool):
    """A Django project whose own migration has a relation to ProcrastinateJob
    and depends on ("procrastinate", "0041_post_retry_failed_job") (the test
    project's shop app), migrated by procrastinate 3.10's own Django
    migrations, then by ours: `manage.py migrate` converts the schema, the
    history stays consistent, and the project's migrations resolve."""
    name = new_db("_dj3")

    def manage(python: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(DJANGO_DATABASE_NAME=name, DJANGO_SETTINGS_MODULE="djproject.settings")
        return subprocess.run(
            [str(python), "manage.py", *args],
            cwd=DJANGO_PROJECT, env=env, capture_output=True, text=True, timeout=300,
        )

    theirs = manage(upstream_venv / "bin" / "python", "migrate")
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    assert "Applying procrastinate.0041_post_retry_failed_job... OK" in theirs.stdout
    assert "Applying shop.0002_order_job... OK" in theirs.stdout
    conn = connect(name)
    assert m.database_kind(conn) == "upstream"

    ours = manage(pathlib.Path(sys.executable), "migrate")
    assert ours.returncode == 0, ours.stdout + ours.stderr
    assert "Applying procrastinate.0001_create_schema... OK" in ours.stdout
    version.check(conn)  # what a worker checks before it starts
    assert all(state.applied_at for state in m.status(conn))

    sql = manage(pathlib.Path(sys.executable), "sqlmigrate", "shop", "0002_order_job")
    assert sql.returncode == 0, sql.stdout + sql.stderr
    assert "job_id" in sql.stdout
    again = manage(pathlib.Path(sys.executable), "migrate")
    assert again.returncode == 0, again.stderr
    assert "No migrations to apply" in again.stdout
