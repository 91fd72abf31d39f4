"""Every SQL example of docs/operations.md ("Operating from psql") runs.

The ```sql blocks are cut into statements; each runs against a fresh
database holding jobs in every state (a job 42 that failed, a running job, a
dead worker, a lock waiting for a job scheduled later, old succeeded jobs),
in its own transaction rolled back afterwards, so that each example sees the
same data whatever the others did.
"""

from __future__ import annotations

import pathlib
import re

import psycopg
import psycopg.rows
import psycopg.sql
import pytest

from polling import wait_until_server_is_older_than

ROOT = pathlib.Path(__file__).resolve().parents[3]
DOCS = [ROOT / "docs" / "operations.md", ROOT / "README.md"]

SQL_BLOCK = re.compile(r"^```sql\n(.*?)^```", re.DOTALL | re.MULTILINE)

SEED = """
-- jobs 1 to 40: sum_task on default
select procrastinate_defer_job('sum_task', '{"a": 3, "b": 5}') from generate_series(1, 40);
-- 41, 42: send_mail on emails, 41 under lock user:1; 43 waits for that lock
select procrastinate_defer_job('send_mail', '{"to": "a@b.c"}', queue_name => 'emails',
                               lock => 'user:1');
select procrastinate_defer_job('send_mail', '{"to": "b@b.c"}', queue_name => 'emails');
select procrastinate_defer_job('send_mail', '{"to": "c@b.c"}', queue_name => 'emails',
                               lock => 'user:1');
-- 44: scheduled later, holding back lock user:2 (45)
select procrastinate_defer_job('report', queue_name => 'slow', lock => 'user:2',
                               scheduled_at => now() + interval '1 hour');
select procrastinate_defer_job('report', queue_name => 'slow', lock => 'user:2');
-- 46: held by a worker that stopped beating an hour ago, with a timeout of 60 s
select procrastinate_defer_job('report', queue_name => 'stuck', timeout => 60);
-- a concurrency limit on the jobs of tenant 42 (docs/flow-control.md)
select procrastinate_set_limit(limit_key => 'tenant:42', concurrency => 2);
-- 47: debounced twice; 48: throttled (docs/flow-control.md)
select procrastinate_defer_job('reindex', '{"user": 7}', queueing_lock => 'reindex:7',
                               debounce => 60)
from generate_series(1, 2);
select procrastinate_defer_job('digest', queueing_lock => 'digest:7', throttle => 3600);
"""

# A live worker runs 41 and 42, fails 42; jobs 1 to 10 succeeded days ago;
# 11 to 15 are cancelled; a dead worker holds 46.
SEED_WORK = """
select procrastinate_register_worker_v2('live', null, 4, 'host-a', 100) as live,
       procrastinate_register_worker_v2('dead', '{stuck}', 1, 'host-b', 200,
                                        p_stalled_after => 2,
                                        p_now => now() - interval '1 hour') as dead
"""


def sql_statements(text: str) -> list[str]:
    """The statements of a block of SQL: comments dropped, cut at each
    semicolon outside quotes."""
    statements, current, quoted = [], [], False
    for line in text.splitlines():
        kept = []
        for index, char in enumerate(line):
            if char == "'":
                quoted = not quoted
            if not quoted and line.startswith("--", index):
                break
            kept.append(char)
        for char in "".join(kept) + "\n":
            current.append(char)
            if char == ";" and not quoted:
                statements.append("".join(current).strip())
                current = []
    assert not "".join(current).strip(), f"statement without a semicolon: {current}"
    return statements


def doc_statements() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for block in SQL_BLOCK.findall(path.read_text()):
            found.extend((path.name, statement) for statement in sql_statements(block))
    return found


STATEMENTS = doc_statements()


def test_the_examples_were_found():
    assert len(STATEMENTS) >= 20
    assert all(s.lower().startswith(("select", "alter", "update")) for _, s in STATEMENTS)


@pytest.fixture
def seeded(db, db_name):
    db.execute(SEED)
    workers = db.execute(SEED_WORK).fetchone()
    live, dead = workers["live"], workers["dead"]
    fetched = db.execute(
        "select id from procrastinate_fetch_jobs_v2(%s, '{emails}', 2)", [live]
    ).fetchall()
    assert [row["id"] for row in fetched] == [41, 42]
    db.execute(
        "select * from procrastinate_finish_jobs_v1(%s, %s::jsonb)",
        [live, '[{"id": 42, "attempt": 0, "status": "failed", '
               '"error": {"types": ["ConnectionError", "OSError"], "message": "smtp down"}}]'],
    )
    db.execute("select * from procrastinate_fetch_jobs_v2(%s, '{default}', 10)", [live])
    db.execute(
        "select * from procrastinate_finish_jobs_v1(%s, (select jsonb_agg(jsonb_build_object("
        "'id', id, 'attempt', 0, 'status', 'succeeded')) from generate_series(1, 10) as id))",
        [live],
    )
    db.execute(
        "update procrastinate_jobs set finished_at = now() - interval '5 days' "
        "where id <= 10"
    )
    db.execute("select procrastinate_cancel_job(id) from generate_series(11, 15) as id")
    # An hour ago (a fetch renews the lease), with a 2 s lease.
    wait_until_server_is_older_than(db, 2)
    db.execute(
        "select * from procrastinate_fetch_jobs_v2(%s, '{stuck}', 1,"
        " p_now => now() - interval '1 hour')",
        [dead],
    )
    return db_name


# What some examples give on that data (first column of the first row, or
# the rows): the examples do what the docs say, not just run.
EXPECTED = {
    "procrastinate_rescue_stalled_jobs()": lambda rows: [
        (r["job_id"], r["status"]) for r in rows
    ] == [(46, "todo")],
    "procrastinate_why_waiting('emails')": lambda rows: [
        (r["reason"], r["jobs"], r["job_id"]) for r in rows
    ] == [("waiting_for_lock", 1, 41)],
    "from procrastinate_worker_stats": lambda rows: sorted(r["name"] for r in rows)
    == ["dead", "live"],
    "from procrastinate_stalled_jobs": lambda rows: [r["id"] for r in rows] == [46],
    "from procrastinate_overdue_jobs": lambda rows: [(r["id"], r["timeout"]) for r in rows]
    == [(46, 60)],
    "from procrastinate_failed_jobs": lambda rows: [
        (r["id"], r["last_error_types"]) for r in rows
    ] == [(42, ["ConnectionError", "OSError"])],
    "where running_job_id is null": lambda rows: [r["lock"] for r in rows] == ["user:2"],
    "procrastinate_retry_job(42)": lambda rows: rows == [{"procrastinate_retry_job": "todo"}],
    "procrastinate_retry_job(42, retry_at": lambda rows: rows
    == [{"procrastinate_retry_job": "todo"}],
    "procrastinate_retry_failed_jobs(": lambda rows: rows
    == [{"procrastinate_retry_failed_jobs": 1}],
    "procrastinate_cancel_jobs('emails', null)": lambda rows: rows
    == [{"procrastinate_cancel_jobs": 1}],
    "procrastinate_pause_queue('emails')": lambda rows: rows
    == [{"procrastinate_pause_queue": True}],
    "procrastinate_remove_old_jobs(72)": lambda rows: rows
    == [{"procrastinate_remove_old_jobs": 10}],
    "procrastinate_defer_job('sum_task'": lambda rows: rows
    == [{"procrastinate_defer_job": 49}],
}


@pytest.mark.parametrize(
    "source, statement", STATEMENTS, ids=[f"{s[0]}:{i}" for i, s in enumerate(STATEMENTS)]
)
def test_example_runs(seeded, db_dsn, source, statement):
    # The settings examples name a database "mydb": ours here.
    statement = statement.replace(
        "alter database mydb",
        psycopg.sql.SQL("alter database {}")
        .format(psycopg.sql.Identifier(seeded))
        .as_string(None),
    )
    with psycopg.connect(db_dsn, row_factory=psycopg.rows.dict_row) as connection:
        cursor = connection.execute(statement)
        rows = cursor.fetchall() if cursor.description else None
        changed = cursor.rowcount
        connection.rollback()

    if statement.lower().startswith("select"):
        # the data holds something for every example to show or act on
        assert rows, f"{source}: no row from {statement}"
    if statement.lower().startswith("update"):
        assert changed == 1, f"{source}: {changed} rows changed by {statement}"
    checks = [check for key, check in EXPECTED.items() if key in statement]
    assert all(check(rows) for check in checks), rows


def test_every_example_with_an_expectation_is_in_the_docs():
    for key in EXPECTED:
        assert any(key in statement for _, statement in STATEMENTS), key
