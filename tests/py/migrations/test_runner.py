"""The migration runner on empty, fresh and older databases (a fake migrations
folder holding the real 0001 plus made-up later steps)."""

from __future__ import annotations

import asyncio
import pathlib
import re
import threading
import time

import pytest

from procrastinate import cli_schema, exceptions
from procrastinate._db import files, sqlsplit, version
from procrastinate._db import migrations as m


def write(folder: pathlib.Path, rel: str, text: str) -> pathlib.Path:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


ADD_THING = "create table procrastinate_thing (id integer primary key);\n"
DROP_THING = "drop table procrastinate_thing;\n"


# ------------------------------------------------------------------ files


def test_split_statements_keeps_bodies_strings_and_comments_whole():
    sql = """
-- a comment; with a semicolon
create function f() returns text language plpgsql as $$
begin
    return 'a;b';  -- inside
end;
$$;
select 'it''s; fine', "odd;name", $tag$ x; y $tag$, E'back\\'slash;';
/* block; comment /* nested; */ */
select 1
"""
    statements = sqlsplit.split_statements(sql)
    assert len(statements) == 3
    assert statements[0].startswith("-- a comment") and statements[0].endswith("$$")
    assert "'a;b'" in statements[0]
    assert sqlsplit.strip_comments(statements[2]) == "select 1"


def test_discover_reads_number_name_phase_checksum(fake_migrations):
    write(fake_migrations, "post/0002_drop_thing.sql", DROP_THING)
    write(fake_migrations, "pre/0003_add_index.sql", f"{files.NO_TRANSACTION_MARK}\nselect 1;\n")
    found = files.discover(fake_migrations)
    assert [(x.number, x.name, x.phase, x.transactional) for x in found] == [
        (1, "create_schema", "pre", True),
        (2, "drop_thing", "post", True),
        (3, "add_index", "pre", False),
    ]
    assert found[1].checksum == files.file_checksum(fake_migrations / "post/0002_drop_thing.sql")
    assert len(found[1].checksum) == 64
    assert files.required_version(fake_migrations) == 3


@pytest.mark.parametrize("name", ["2_x.sql", "0002-add-x.sql", "0002_AddX.sql", "0002_.sql"])
def test_discover_refuses_badly_named_files(fake_migrations, name):
    write(fake_migrations, f"pre/{name}", ADD_THING)
    with pytest.raises(m.MigrationError, match="NNNN_verb_object"):
        files.discover(fake_migrations)


def test_discover_refuses_a_number_used_in_both_phases(fake_migrations):
    write(fake_migrations, "pre/0002_add_thing.sql", ADD_THING)
    write(fake_migrations, "post/0002_drop_thing.sql", DROP_THING)
    with pytest.raises(m.MigrationError, match="0002 is used twice"):
        files.discover(fake_migrations)


# ------------------------------------------------------------------ kinds


def test_kinds_of_database(new_db, fresh_db, connect):
    empty = new_db()
    assert m.database_kind(connect(empty)) == "empty"
    assert m.database_kind(connect(fresh_db)) == "current"
    conn = connect(new_db())
    conn.execute("create table procrastinate_jobs (id bigint)")
    assert m.database_kind(conn) == "upstream"


# ------------------------------------------------------------------ empty and fresh


def test_empty_database_gets_every_migration_in_order(new_db, connect, fake_migrations):
    write(fake_migrations, "pre/0002_add_thing.sql", ADD_THING)
    write(fake_migrations, "post/0003_drop_thing.sql", DROP_THING)
    conn = connect(new_db())
    assert [x.number for x in m.pending(conn, directory=fake_migrations)] == [1, 2, 3]
    done = m.migrate(conn, phase="pre", directory=fake_migrations)
    # nothing runs against an empty database: post steps are safe too
    assert [x.number for x in done.steps] == [1, 2, 3]
    assert done.notes
    rows = conn.execute(
        "select number, name, phase, checksum from procrastinate_migrations order by 1"
    ).fetchall()
    discovered = files.discover(fake_migrations)
    assert rows == [(x.number, x.name, x.phase, x.checksum) for x in discovered]
    assert conn.execute("select to_regclass('procrastinate_thing')").fetchone()[0] is None
    assert m.pending(conn, directory=fake_migrations) == []


def test_fresh_install_from_sql_records_itself_fully_migrated(fresh_db, connect):
    conn = connect(fresh_db)
    assert m.pending(conn) == []
    states = m.status(conn)
    assert states and all(s.applied_at is not None and s.checksum_ok for s in states)
    assert [(s.number, s.name, s.phase) for s in states] == [
        (x.number, x.name, x.phase) for x in files.discover()
    ]
    version.check(conn)  # no exception
    assert m.migrate(conn).steps == []


@pytest.mark.subprocess
def test_runner_on_empty_database_matches_fresh_install(new_db, fresh_db, tool, connect):
    migrated = new_db("_mig")
    m.migrate(connect(migrated))
    assert tool.compare_databases(fresh_db, migrated, "fresh", "migrated") == []


@pytest.mark.subprocess
def test_compare_shows_a_difference_with_column_order(new_db, fresh_db, tool, connect):
    other = new_db("_other")
    tool.build_from_sql(other)
    connect(other).execute("alter table procrastinate_paused_queues add column why text")
    lines = tool.compare_databases(fresh_db, other, "fresh", "other")
    assert "+    why text" in lines


# ------------------------------------------------------------------ older databases


@pytest.fixture
def older_db(new_db, connect, fake_migrations):
    """A database at 0001, with 0002 (pre) and 0003 (post) shipped since."""
    name = new_db("_older")
    m.migrate(connect(name), directory=fake_migrations)
    write(fake_migrations, "pre/0002_add_thing.sql", ADD_THING)
    write(fake_migrations, "post/0003_drop_thing.sql", DROP_THING)
    return name


def test_older_database_lists_pending_by_phase(older_db, connect, fake_migrations):
    conn = connect(older_db)
    assert [x.number for x in m.pending(conn, directory=fake_migrations)] == [2, 3]
    assert [x.number for x in m.pending(conn, "pre", directory=fake_migrations)] == [2]
    with pytest.raises(m.MigrationError, match="pre migration 0002_add_thing must be applied"):
        m.pending(conn, "post", directory=fake_migrations)
    states = m.status(conn, directory=fake_migrations)
    assert [(s.number, s.applied_at is not None, s.checksum_ok) for s in states] == [
        (1, True, True),
        (2, False, None),
        (3, False, None),
    ]


def test_pre_then_post(older_db, connect, fake_migrations):
    conn = connect(older_db)
    assert [x.number for x in m.migrate(conn, "pre", directory=fake_migrations).steps] == [2]
    assert conn.execute("select to_regclass('procrastinate_thing')").fetchone()[0] is not None
    assert [x.number for x in m.migrate(conn, "post", directory=fake_migrations).steps] == [3]
    assert conn.execute("select to_regclass('procrastinate_thing')").fetchone()[0] is None
    phases = conn.execute(
        "select number, phase from procrastinate_migrations order by 1"
    ).fetchall()
    assert phases == [(1, "pre"), (2, "pre"), (3, "post")]


def test_pre_refuses_to_jump_over_an_earlier_release_post(older_db, connect, fake_migrations):
    write(fake_migrations, "pre/0004_add_other.sql", "create table procrastinate_other (id int);\n")
    conn = connect(older_db)
    with pytest.raises(m.MigrationError, match="post migration 0003_drop_thing"):
        m.migrate(conn, "pre", directory=fake_migrations)
    assert conn.execute("select count(*) from procrastinate_migrations").fetchone()[0] == 1


def test_dry_run_applies_nothing(older_db, connect, fake_migrations):
    conn = connect(older_db)
    result = m.migrate(conn, dry_run=True, directory=fake_migrations)
    assert [x.number for x in result.steps] == [2, 3]
    assert conn.execute("select count(*) from procrastinate_migrations").fetchone()[0] == 1
    assert conn.execute("select to_regclass('procrastinate_thing')").fetchone()[0] is None


def test_edited_migration_is_refused(older_db, connect, fake_migrations):
    conn = connect(older_db)
    m.migrate(conn, "pre", directory=fake_migrations)
    path = write(fake_migrations, "pre/0002_add_thing.sql", ADD_THING + "-- edited after release\n")
    with pytest.raises(m.ChecksumMismatch, match="migration 0002") as info:
        m.migrate(conn, directory=fake_migrations)
    assert str(path) in str(info.value)
    # nothing applied, post included
    assert conn.execute("select count(*) from procrastinate_migrations").fetchone()[0] == 2
    states = {s.number: s for s in m.status(conn, directory=fake_migrations)}
    assert states[2].checksum_ok is False
    assert "EDITED" in cli_schema.format_status("current", list(states.values()))


def test_failed_migration_rolls_back_and_is_not_recorded(older_db, connect, fake_migrations):
    write(fake_migrations, "pre/0002_add_thing.sql", ADD_THING + "select 1 / 0;\n")
    conn = connect(older_db)
    with pytest.raises(m.MigrationError, match="0002_add_thing.*division by zero"):
        m.migrate(conn, "pre", directory=fake_migrations)
    assert conn.execute("select to_regclass('procrastinate_thing')").fetchone()[0] is None
    assert conn.execute("select count(*) from procrastinate_migrations").fetchone()[0] == 1
    # the lock is released: a fixed file goes through
    write(fake_migrations, "pre/0002_add_thing.sql", ADD_THING)
    assert [x.number for x in m.migrate(conn, "pre", directory=fake_migrations).steps] == [2]


def test_no_transaction_file_runs_concurrent_index(older_db, connect, fake_migrations):
    write(
        fake_migrations,
        "pre/0002_add_thing.sql",
        f"{files.NO_TRANSACTION_MARK}\n{ADD_THING}"
        "create index concurrently procrastinate_thing_idx on procrastinate_thing (id);\n"
        "do $$ begin insert into procrastinate_thing values (1); commit; end $$;\n",
    )
    conn = connect(older_db)
    m.migrate(conn, "pre", directory=fake_migrations)
    assert conn.execute("select to_regclass('procrastinate_thing_idx')").fetchone()[0] is not None
    assert conn.execute("select count(*) from procrastinate_thing").fetchone()[0] == 1


def test_migrate_waits_for_the_advisory_lock(older_db, connect, fake_migrations):
    holder = connect(older_db)
    holder.execute("select pg_advisory_lock(%s)", (m.ADVISORY_LOCK_KEY,))
    conn = connect(older_db)
    with pytest.raises(m.MigrationLocked):
        m.migrate(conn, directory=fake_migrations, wait=False)

    result: dict = {}
    thread = threading.Thread(
        target=lambda: result.setdefault(
            "steps", m.migrate(connect(older_db), directory=fake_migrations).steps
        )
    )
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive()  # blocked on the lock
    assert conn.execute("select count(*) from procrastinate_migrations").fetchone()[0] == 1
    holder.execute("select pg_advisory_unlock(%s)", (m.ADVISORY_LOCK_KEY,))
    thread.join(10)
    assert [x.number for x in result["steps"]] == [2, 3]


def test_two_deployers_apply_each_migration_once(older_db, connect, fake_migrations):
    write(fake_migrations, "pre/0002_add_thing.sql", ADD_THING + "select pg_sleep(0.3);\n")
    results: list = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                m.migrate(connect(older_db), directory=fake_migrations).steps
            )
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(len(steps) for steps in results) == [0, 2]


# ------------------------------------------------------------------ worker check


def test_check_schema_version(new_db, older_db, connect, fake_migrations):
    empty = connect(new_db())
    with pytest.raises(exceptions.SchemaVersionMismatch, match="procrastinate schema --apply"):
        version.check(empty, fake_migrations)
    conn = connect(older_db)
    with pytest.raises(exceptions.SchemaVersionMismatch, match="0002_add_thing") as info:
        version.check(conn, fake_migrations)
    assert "procrastinate schema --migrate" in str(info.value)
    m.migrate(conn, "pre", directory=fake_migrations)
    version.check(conn, fake_migrations)  # post pending: workers may run


# ------------------------------------------------------------------ command line


def run(action: str, conn, **kwargs) -> tuple[int, str]:
    lines: list[str] = []
    code = cli_schema.run_schema_command(action, conn, echo=lines.append, **kwargs)
    return code, "\n".join(lines)


def test_apply_on_a_database_with_the_schema_changes_nothing(fresh_db, connect):
    conn = connect(fresh_db)
    before = conn.execute(
        "select count(*) from pg_proc where proname like 'procrastinate%'"
    ).fetchone()
    code, out = run("apply", conn)
    assert code == 0
    assert "already has a procrastinate schema" in out and "nothing changed" in out
    after = conn.execute(
        "select count(*) from pg_proc where proname like 'procrastinate%'"
    ).fetchone()
    assert before == after


def test_apply_on_an_empty_database(new_db, connect):
    conn = connect(new_db())
    code, out = run("apply", conn)
    assert (code, out) == (0, "Schema applied.")
    assert m.pending(conn) == []


def test_status_output_empty(new_db, connect):
    code, out = run("status", connect(new_db()))
    assert code == 0
    print(out)
    assert out.splitlines()[0] == "Database: empty (no procrastinate schema)"
    assert re.search(r"0001_create_schema\s+pre\s+pending", out)
    assert "Next: procrastinate schema --apply" in out


def test_status_output_fresh(fresh_db, connect):
    code, out = run("status", connect(fresh_db))
    assert code == 0
    print(out)
    assert "Database: procrastinate SQL-core schema" in out
    assert re.search(r"0001_create_schema\s+pre\s+applied", out)
    assert "The schema is up to date." in out


def test_status_output_older(older_db, connect, fake_migrations, monkeypatch):
    monkeypatch.setattr(files, "migrations_dir", lambda: fake_migrations)
    conn = connect(older_db)
    code, out = run("status", conn)
    print(out)
    assert "0002_add_thing      pre    pending" in out
    assert "0003_drop_thing     post   pending" in out
    assert "1 applied, 2 pending (1 pre, 1 post)." in out
    assert "Next: procrastinate schema --migrate --phase pre" in out
    assert run("migrate", conn, phase="pre", dry_run=True) == (0, "Would apply pre/0002_add_thing")
    code, out = run("migrate", conn, phase="pre")
    assert code == 0
    assert out.splitlines() == ["Applying pre/0002_add_thing...", "1 migration(s) applied."]
    _, out = run("status", conn)
    assert "Next, once no older code runs: procrastinate schema --migrate --phase post." in out
    write(fake_migrations, "post/0003_drop_thing.sql", "select 1 / 0;\n")
    code, out = run("migrate", conn, phase="post")
    assert code == 1 and "Error: migration post/0003_drop_thing" in out


def test_status_lists_migrations_the_code_does_not_ship(fresh_db, connect, fake_migrations):
    conn = connect(fresh_db)
    conn.execute(
        "insert into procrastinate_migrations values (9999, 'from_the_future', 'pre', 'x')"
    )
    states = m.status(conn, directory=fake_migrations)
    assert states[-1].number == 9999 and not states[-1].shipped
    assert "not shipped with this version" in cli_schema.format_status("current", states)
    version.check(conn, fake_migrations)  # a newer schema is fine for older code


def test_check_schema_version_through_a_connector(older_db, fake_migrations, connect):
    import procrastinate

    async def check() -> None:
        connector = procrastinate.PsycopgConnector(
            conninfo=f"dbname={older_db}", min_size=1, max_size=1
        )
        await connector.open_async()
        try:
            await version.check_async(connector, fake_migrations)
        finally:
            await connector.close_async()

    with pytest.raises(exceptions.SchemaVersionMismatch, match="procrastinate schema --migrate"):
        asyncio.run(check())
    m.migrate(connect(older_db), "pre", directory=fake_migrations)
    asyncio.run(check())


def test_cli_glue_arguments_and_async_runner(older_db, fake_migrations, monkeypatch, connect):
    import argparse

    import procrastinate

    parser = argparse.ArgumentParser()
    actions = parser.add_mutually_exclusive_group()
    actions.add_argument("--apply", action="store_const", const="apply", dest="action")
    cli_schema.add_schema_arguments(parser, actions)
    args = parser.parse_args(["--migrate", "--phase", "pre", "--dry-run"])
    assert (args.action, args.phase, args.dry_run) == ("migrate", "pre", True)
    assert parser.parse_args(["--status"]).action == "status"
    with pytest.raises(SystemExit):
        parser.parse_args(["--status", "--apply"])

    monkeypatch.setattr(files, "migrations_dir", lambda: fake_migrations)
    lines: list[str] = []

    async def run() -> int:
        connector = procrastinate.PsycopgConnector(
            conninfo=f"dbname={older_db}", min_size=1, max_size=1
        )
        await connector.open_async()
        try:
            return await cli_schema.run_schema_command_async(
                "migrate", connector, phase="pre", echo=lines.append
            )
        finally:
            await connector.close_async()

    assert asyncio.run(run()) == 0
    assert lines[-1] == "1 migration(s) applied."
    assert [x.number for x in m.pending(connect(older_db), directory=fake_migrations)] == [3]
