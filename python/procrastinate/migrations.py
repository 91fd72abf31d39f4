"""The schema lifecycle: which migrations a database has, and applying the rest.

Migration files live in the repository's migrations/ folder (see
procrastinate.sql_files.migrations_dir()):

    migrations/pre/NNNN_verb_object.sql    expand: applied before new code is deployed
    migrations/post/NNNN_verb_object.sql   contract: applied once old code is gone
    migrations/upstream/{pre,post}/NNNN_verb_object.sql
                                           the conversion of a procrastinate 3.x database

pre/ and post/ share one number sequence. Each file runs in its own
transaction, together with the insert of its row in procrastinate_migrations
(number, name, phase, sha256 of the file), unless its first line is
``-- migration: no-transaction`` (for CREATE INDEX CONCURRENTLY and batched
backfills that commit as they go): its statements then run one by one, and its
row is written once they all succeeded, so such a file must be safe to re-run.

A database is one of four kinds (database_kind()):

- empty: no procrastinate table. Every migration is applied, in order.
- current: it has procrastinate_migrations. The pending migrations are applied.
- upstream: created by procrastinate 3.x (latest schema, 3.10). The files of
  migrations/upstream/ convert it. Their pre files keep everything 3.x workers
  use working and add all of 0001; at the end of the last one, 0001 is
  recorded as applied (its objects are all there). Their post files drop what
  only 3.x used and leave the schema identical to a fresh install's. Their
  progress is tracked in procrastinate_upstream_migrations, a table that only
  exists while the conversion is under way.
- converting: an upstream database whose conversion has started.

The runner holds a session advisory lock while it works, so that two deployers
cannot interleave, and refuses a database whose recorded checksum of a shipped
file differs from the file (a released migration was edited).

Everything here is synchronous, over a psycopg 3 connection: it runs from the
command line (procrastinate schema --migrate / --status, see migrations_cli).
A worker checks, before it starts, that every pre migration its code ships is
applied: check_schema_version_connector(app.connector) (or
check_schema_version(conn) / check_schema_version_async(aconn)).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import pathlib
import re
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from procrastinate import exceptions

PHASES = ("pre", "post")
# pg_advisory_lock key: "procmigr" read as 8 ASCII bytes, so it cannot collide
# with small integer keys applications pick.
ADVISORY_LOCK_KEY = int.from_bytes(b"procmigr", "big") - 2**63
NO_TRANSACTION_MARK = "-- migration: no-transaction"
MIGRATE_COMMAND = "procrastinate schema --migrate"

_FILE_NAME = re.compile(r"^(?P<number>[0-9]{4})_(?P<name>[a-z0-9]+(?:_[a-z0-9]+)*)\.sql$")
_UPSTREAM_TRACKING = "procrastinate_upstream_migrations"


class MigrationError(exceptions.ProcrastinateException):
    """A migration cannot be applied, or the files are inconsistent."""


class ChecksumMismatch(MigrationError):
    """A released migration file was edited after it was applied here."""


class MigrationLocked(MigrationError):
    """Another process is applying migrations."""


class UnsupportedDatabase(MigrationError):
    """The database holds something this version cannot migrate."""


# Raised by check_schema_version (a ConnectorException, as schema.py raises it).
SchemaVersionMismatch = exceptions.SchemaVersionMismatch


# --------------------------------------------------------------------------
# Files


@dataclasses.dataclass(frozen=True)
class Migration:
    number: int
    name: str
    phase: str
    path: pathlib.Path
    checksum: str
    transactional: bool
    upstream: bool = False

    @property
    def label(self) -> str:
        prefix = "3.x conversion " if self.upstream else ""
        return f"{prefix}{self.phase}/{self.number:04d}_{self.name}"

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def file_checksum(path: pathlib.Path) -> str:
    """sha256 hex of the file's bytes, as recorded in procrastinate_migrations."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def default_directory() -> pathlib.Path:
    try:
        from procrastinate import sql_files
    except ImportError:  # pragma: no cover
        return pathlib.Path(__file__).resolve().parents[2] / "migrations"
    return sql_files.migrations_dir()


def _scan(directory: pathlib.Path, upstream: bool) -> list[Migration]:
    found: list[Migration] = []
    for phase in PHASES:
        folder = directory / phase
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix != ".sql":
                continue
            match = _FILE_NAME.match(path.name)
            if not match:
                raise MigrationError(
                    f"{path}: a migration file is named NNNN_verb_object.sql "
                    "(four digits, lower-case words joined by _)"
                )
            first_line = path.read_text(encoding="utf-8").split("\n", 1)[0].strip()
            found.append(
                Migration(
                    number=int(match["number"]),
                    name=match["name"],
                    phase=phase,
                    path=path,
                    checksum=file_checksum(path),
                    transactional=first_line != NO_TRANSACTION_MARK,
                    upstream=upstream,
                )
            )
    found.sort(key=lambda m: m.number)
    seen: dict[int, Migration] = {}
    for migration in found:
        if migration.number in seen:
            raise MigrationError(
                f"migration number {migration.number:04d} is used twice: "
                f"{seen[migration.number].path} and {migration.path}"
            )
        seen[migration.number] = migration
    return found


def discover(directory: pathlib.Path | None = None) -> list[Migration]:
    """The migrations of migrations/pre and migrations/post, by number."""
    return _scan(directory or default_directory(), upstream=False)


def discover_upstream(directory: pathlib.Path | None = None) -> list[Migration]:
    """The files converting a procrastinate 3.x database, by number."""
    return _scan((directory or default_directory()) / "upstream", upstream=True)


def required_version(directory: pathlib.Path | None = None) -> int:
    """Highest pre migration shipped: code needs it (and all before) applied."""
    numbers = [m.number for m in discover(directory) if m.phase == "pre"]
    return max(numbers, default=0)


# --------------------------------------------------------------------------
# SQL text


def split_statements(sql: str) -> list[str]:
    """Split SQL text on top-level semicolons.

    Knows quotes, double-quoted names, dollar quoting and both comment forms,
    so function bodies stay whole. Chunks holding only comments are dropped;
    the comments before a statement stay with it.
    """
    chunks: list[str] = []
    start = i = 0
    n = len(sql)
    while i < n:
        c = sql[i]
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if c == "/" and sql.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            continue
        if c == "'":
            backslashes = i > 0 and sql[i - 1] in "eE" and (i < 2 or not _ident_char(sql[i - 2]))
            i += 1
            while i < n:
                if backslashes and sql[i] == "\\":
                    i += 2
                    continue
                if sql[i] == "'":
                    if sql.startswith("''", i):
                        i += 2
                        continue
                    break
                i += 1
            i += 1
            continue
        if c == '"':
            end = sql.find('"', i + 1)
            i = n if end < 0 else end + 1
            continue
        if c == "$" and not (i > 0 and _ident_char(sql[i - 1])):
            match = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$").match(sql, i)
            if match:
                end = sql.find(match.group(0), match.end())
                i = n if end < 0 else end + len(match.group(0))
                continue
        if c == ";":
            chunks.append(sql[start:i])
            start = i + 1
        i += 1
    chunks.append(sql[start:])
    return [chunk.strip() for chunk in chunks if strip_comments(chunk)]


def _ident_char(c: str) -> bool:
    return c.isalnum() or c in "_$"


def strip_comments(statement: str) -> str:
    """The statement without its leading comments and blank lines."""
    text = statement.strip()
    while True:
        if text.startswith("--"):
            end = text.find("\n")
            text = "" if end < 0 else text[end + 1 :].strip()
        elif text.startswith("/*"):
            depth, i = 1, 2
            while i < len(text) and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            text = text[i:].strip()
        else:
            return text


# --------------------------------------------------------------------------
# Database state


def database_kind(conn: Any) -> str:
    """empty, current, upstream (procrastinate 3.x) or converting."""
    jobs, migrations, tracking = conn.execute(
        "select to_regclass('procrastinate_jobs'), to_regclass('procrastinate_migrations'),"
        f" to_regclass('{_UPSTREAM_TRACKING}')"
    ).fetchone()
    if tracking is not None:
        return "converting"
    if migrations is not None:
        return "current"
    if jobs is not None:
        return "upstream"
    return "empty"


# What a procrastinate 3.10 schema (3.4 and later: the schema did not change
# since) must have for the conversion files to apply.
_UPSTREAM_FINGERPRINT = {
    "table procrastinate_workers": "select to_regclass('procrastinate_workers')",
    "table procrastinate_events": "select to_regclass('procrastinate_events')",
    "table procrastinate_periodic_defers": "select to_regclass('procrastinate_periodic_defers')",
    "type procrastinate_job_to_defer_v1": "select to_regtype('procrastinate_job_to_defer_v1')",
    "function procrastinate_fetch_job_v2": (
        "select to_regprocedure('procrastinate_fetch_job_v2(character varying[], bigint)')"
    ),
    "function procrastinate_retry_job_v2": (
        "select to_regprocedure('procrastinate_retry_job_v2(bigint, timestamp with time zone,"
        " integer, character varying, character varying)')"
    ),
    "function procrastinate_unregister_worker_v1(bigint)": (
        "select to_regprocedure('procrastinate_unregister_worker_v1(bigint)')"
    ),
    "event type 'retried'": (
        "select 1 from pg_enum where enumtypid = to_regtype('procrastinate_job_event_type')"
        " and enumlabel = 'retried'"
    ),
}


def check_upstream_schema(conn: Any) -> None:
    """Refuse a procrastinate 3.x database older than the 3.4-3.10 schema."""
    missing = [
        what
        for what, query in _UPSTREAM_FINGERPRINT.items()
        if (row := conn.execute(query).fetchone()) is None or row[0] is None
    ]
    if missing:
        raise UnsupportedDatabase(
            "this database was created by a procrastinate older than 3.10 (it lacks "
            + ", ".join(missing)
            + "): bring it to procrastinate 3.10's schema first with procrastinate's own"
            " migrations (procrastinate schema --migrations-path lists them)"
        )


def _recorded(conn: Any, table: str) -> dict[int, tuple[str, str, str, datetime.datetime]]:
    if conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is None:
        return {}
    rows = conn.execute(
        f"select number, name, phase, checksum, applied_at from {table} order by number"
    ).fetchall()
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}


class MigrationState(NamedTuple):
    """One line of status(): a shipped migration, or one recorded without a file."""

    number: int
    name: str
    phase: str
    applied_at: datetime.datetime | None
    checksum_ok: bool | None  # None while pending or when the file is not shipped
    upstream: bool = False
    shipped: bool = True
    note: str = ""


def status(conn: Any, directory: pathlib.Path | None = None) -> list[MigrationState]:
    """Every migration, applied (with when and whether its file still matches) or not."""
    kind = database_kind(conn)
    main = discover(directory)
    states: list[MigrationState] = []
    if kind in ("upstream", "converting"):
        done = _recorded(conn, _UPSTREAM_TRACKING)
        for m in discover_upstream(directory):
            row = done.get(m.number)
            states.append(
                MigrationState(
                    m.number,
                    m.name,
                    m.phase,
                    row[3] if row else None,
                    (row[2] == m.checksum) if row else None,
                    upstream=True,
                )
            )
    recorded = _recorded(conn, "procrastinate_migrations")
    shipped = {m.number for m in main}
    for m in main:
        row = recorded.get(m.number)
        note = ""
        if row is None and m.number == 1 and kind in ("upstream", "converting"):
            note = "recorded by the 3.x conversion's last pre step"
        states.append(
            MigrationState(
                m.number,
                m.name,
                m.phase,
                row[3] if row else None,
                (row[2] == m.checksum) if row else None,
                note=note,
            )
        )
    for number, (name, phase, _checksum, applied_at) in recorded.items():
        if number not in shipped:
            states.append(
                MigrationState(
                    number,
                    name,
                    phase,
                    applied_at,
                    None,
                    shipped=False,
                    note="not shipped with this version (the database is newer)",
                )
            )
    upstream_states = [s for s in states if s.upstream]
    main_states = sorted((s for s in states if not s.upstream), key=lambda s: s.number)
    return upstream_states + main_states


def _verify_checksums(conn: Any, main: list[Migration], upstream: list[Migration]) -> None:
    for table, migrations in (
        ("procrastinate_migrations", main),
        (_UPSTREAM_TRACKING, upstream),
    ):
        recorded = _recorded(conn, table)
        for m in migrations:
            row = recorded.get(m.number)
            if row is not None and row[2] != m.checksum:
                raise ChecksumMismatch(
                    f"migration {m.number:04d} ({m.path}) differs from the one applied to"
                    f" this database (recorded sha256 {row[2]}, file {m.checksum}): a released"
                    " migration must never be edited; restore the file and add a new migration"
                )


@dataclasses.dataclass
class Plan:
    """What migrate() would do: the files in order, and the database kind."""

    kind: str
    steps: list[Migration]
    # upstream conversion: record 0001 after this step / drop the tracking table after this one
    record_baseline_after: Migration | None = None
    finish_conversion_after: Migration | None = None
    notes: list[str] = dataclasses.field(default_factory=list)


def plan(
    conn: Any,
    phase: str | None = None,
    directory: pathlib.Path | None = None,
    target: int | None = None,
) -> Plan:
    """The migrations migrate() would apply now, in order (refusing impossible orders).

    `target`: stop after the migration of that number (None: the last one).
    """
    if phase not in (None, *PHASES):
        raise ValueError(f"phase must be pre, post or None, got {phase!r}")
    kind = database_kind(conn)
    main = discover(directory)
    upstream = discover_upstream(directory) if kind in ("upstream", "converting") else []
    _verify_checksums(conn, main, upstream)
    result = Plan(kind=kind, steps=[])

    if kind == "empty":
        # Nothing runs against an empty database: every phase is safe.
        result.steps = [m for m in main if target is None or m.number <= target]
        if phase is not None:
            result.notes.append(
                "empty database: applying every migration, pre and post"
                " (no code runs against it yet)"
            )
        return result

    applied_main = set(_recorded(conn, "procrastinate_migrations"))
    if kind in ("upstream", "converting"):
        if kind == "upstream":
            check_upstream_schema(conn)
        if not main or main[0].number != 1:
            raise MigrationError(
                "the 3.x conversion needs migration 0001 (migrations/pre/0001_*.sql)"
            )
        done = set(_recorded(conn, _UPSTREAM_TRACKING))
        up_pre = [m for m in upstream if m.phase == "pre" and m.number not in done]
        up_post = [m for m in upstream if m.phase == "post" and m.number not in done]
        all_pre = [m for m in upstream if m.phase == "pre"]
        all_post = [m for m in upstream if m.phase == "post"]
        if (
            not all_pre
            or not all_post
            or max(m.number for m in all_pre) > min(m.number for m in all_post)
        ):
            raise MigrationError("migrations/upstream/ must hold pre files, then post files")
        applied_main.add(1)  # 0001 comes with the conversion, never on its own
        if up_pre:
            result.record_baseline_after = all_pre[-1]
        if up_post:
            result.finish_conversion_after = all_post[-1]
        if phase in (None, "pre"):
            result.steps += up_pre
        if phase in (None, "post"):
            if up_pre and phase == "post":
                raise MigrationError(
                    "the procrastinate 3.x conversion's pre steps are pending: run "
                    f"`{MIGRATE_COMMAND} --phase pre` first"
                )
            result.steps += up_post

    pending = [
        m
        for m in main
        if m.number not in applied_main and (target is None or m.number <= target)
    ]
    if phase is None:
        result.steps += pending
    elif phase == "pre":
        for m in pending:
            if m.phase != "pre":
                continue
            blocking = [p for p in pending if p.phase == "post" and p.number < m.number]
            if blocking:
                raise MigrationError(
                    f"post migration {blocking[0].number:04d}_{blocking[0].name} (an earlier "
                    f"release's contract step) must be applied before pre migration "
                    f"{m.number:04d}_{m.name}: run `{MIGRATE_COMMAND} --phase post` first "
                    "(safe once no code older than that release runs)"
                )
            result.steps.append(m)
    else:
        for m in pending:
            if m.phase != "post":
                continue
            blocking = [p for p in pending if p.phase == "pre" and p.number < m.number]
            if blocking:
                raise MigrationError(
                    f"pre migration {blocking[0].number:04d}_{blocking[0].name} must be applied "
                    f"before post migration {m.number:04d}_{m.name}: run "
                    f"`{MIGRATE_COMMAND} --phase pre` first"
                )
            result.steps.append(m)
    return result


def pending(
    conn: Any,
    phase: str | None = None,
    directory: pathlib.Path | None = None,
    target: int | None = None,
) -> list[Migration]:
    """The migrations that `migrate(conn, phase, target=target)` would apply, in order."""
    return plan(conn, phase, directory, target).steps


# --------------------------------------------------------------------------
# Applying


def _insert_record(conn: Any, table: str, m: Migration) -> None:
    conn.execute(
        f"insert into {table} (number, name, phase, checksum) values (%s, %s, %s, %s)",
        (m.number, m.name, m.phase, m.checksum),
    )


_CREATE_TRACKING = f"""
create table if not exists {_UPSTREAM_TRACKING} (
    number integer primary key,
    name text not null,
    phase text not null,
    checksum text not null,
    applied_at timestamptz not null default now()
)
"""


def _apply_one(conn: Any, m: Migration, steps_plan: Plan, baseline: Migration | None) -> None:
    table = _UPSTREAM_TRACKING if m.upstream else "procrastinate_migrations"

    def bookkeeping() -> None:
        if m.upstream:
            conn.execute(_CREATE_TRACKING)
        _insert_record(conn, table, m)
        if steps_plan.record_baseline_after is m and baseline is not None:
            _insert_record(conn, "procrastinate_migrations", baseline)
        if steps_plan.finish_conversion_after is m:
            conn.execute(f"drop table {_UPSTREAM_TRACKING}")

    try:
        if m.transactional:
            with conn.transaction():
                conn.execute(m.sql())
                bookkeeping()
        else:
            for statement in split_statements(m.sql()):
                conn.execute(statement)
            with conn.transaction():
                bookkeeping()
    except MigrationError:
        raise
    except Exception as exc:
        raise MigrationError(f"migration {m.label} ({m.path}) failed: {exc}") from exc


def migrate(
    conn: Any,
    phase: str | None = None,
    dry_run: bool = False,
    directory: pathlib.Path | None = None,
    wait: bool = True,
    on_step: Callable[[Migration], None] | None = None,
    target: int | None = None,
) -> Plan:
    """Apply the pending migrations of `phase` (None: all), each in its own transaction.

    Returns the plan (its steps are what was applied, or would be with dry_run).
    `conn` is a psycopg 3 connection with no transaction open; it is switched to
    autocommit while this runs. With wait=False, raises MigrationLocked when
    another process holds the migration lock instead of waiting for it. With
    `target`, migrations numbered after it are left pending (the Django
    integration applies one migration per Django migration this way).
    """
    if dry_run:
        return plan(conn, phase, directory, target)
    previous_autocommit = conn.autocommit
    conn.autocommit = True
    try:
        if not conn.execute("select pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()[0]:
            if not wait:
                raise MigrationLocked(
                    "another process is applying procrastinate migrations to this database"
                )
            conn.execute("select pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            # Planned under the lock: another deployer may just have finished.
            steps_plan = plan(conn, phase, directory, target)
            main = discover(directory)
            baseline = main[0] if main else None
            for m in steps_plan.steps:
                if on_step is not None:
                    on_step(m)
                _apply_one(conn, m, steps_plan, baseline)
            return steps_plan
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    finally:
        conn.autocommit = previous_autocommit


def apply_schema(conn: Any) -> bool:
    """Install the schema (sql/*.sql) on an empty database; False, changing nothing, otherwise."""
    if database_kind(conn) != "empty":
        return False
    from procrastinate import sql_files

    with conn.transaction():
        conn.execute(sql_files.read_schema())
    return True


# --------------------------------------------------------------------------
# The worker's check


SCHEMA_VERSION_QUERY = (
    "select to_regclass('procrastinate_jobs') is not null,"
    " to_regclass('procrastinate_migrations') is not null,"
    " (select coalesce(array_agg(number), '{}') from procrastinate_migrations)"
)


def schema_problem(
    kind: str, applied: Iterable[int], directory: pathlib.Path | None = None
) -> str | None:
    """Why code shipping these migrations must not run on that database, or None."""
    if kind == "empty":
        return (
            "the database has no procrastinate schema: run `procrastinate schema --apply`"
            f" (or `{MIGRATE_COMMAND}`)"
        )
    if kind == "upstream":
        return (
            "the database has procrastinate 3.x's schema: convert it with "
            f"`{MIGRATE_COMMAND} --phase pre` (3.x workers keep working), deploy, then "
            f"`{MIGRATE_COMMAND} --phase post` once no 3.x worker runs"
        )
    applied_set = set(applied)
    missing = [m for m in discover(directory) if m.phase == "pre" and m.number not in applied_set]
    if missing:
        names = ", ".join(f"{m.number:04d}_{m.name}" for m in missing)
        return (
            f"the database schema is older than this code (pending pre migrations: {names}):"
            f" run `{MIGRATE_COMMAND} --phase pre` before starting workers"
        )
    return None


_KIND_QUERY = (
    "select to_regclass('procrastinate_jobs') is not null as has_jobs,"
    " to_regclass('procrastinate_migrations') is not null as has_migrations,"
    " to_regprocedure('procrastinate_applied_migrations_v1()') is not null as has_reader"
)


def _applied_query(has_reader: bool) -> str:
    """The applied migration numbers: through the function when the schema has
    it (worker roles have no right on the tables), else from the table."""
    if has_reader:
        return "select m as number from procrastinate_applied_migrations_v1() as m"
    return "select number from procrastinate_migrations"


def _kind_from(has_jobs: bool, has_migrations: bool) -> str:
    if has_migrations:
        return "current"
    return "upstream" if has_jobs else "empty"


def check_schema_version(conn: Any, directory: pathlib.Path | None = None) -> None:
    """Raise SchemaVersionMismatch unless every pre migration this code ships is applied."""
    kind = database_kind(conn)
    applied = _recorded(conn, "procrastinate_migrations").keys()
    problem = schema_problem(kind if kind != "converting" else "current", applied, directory)
    if problem:
        raise SchemaVersionMismatch(problem)


async def check_schema_version_connector(
    connector: Any, directory: pathlib.Path | None = None
) -> None:
    """check_schema_version through any opened async connector (the worker's)."""
    row = await connector.execute_query_one_async(_KIND_QUERY)
    applied: list[int] = []
    if row["has_migrations"]:
        rows = await connector.execute_query_all_async(_applied_query(row["has_reader"]))
        applied = [r["number"] for r in rows]
    problem = schema_problem(_kind_from(row["has_jobs"], row["has_migrations"]), applied, directory)
    if problem:
        raise SchemaVersionMismatch(problem)


async def check_schema_version_async(conn: Any, directory: pathlib.Path | None = None) -> None:
    """check_schema_version over a psycopg AsyncConnection."""
    cursor = await conn.execute(_KIND_QUERY)
    has_jobs, has_migrations, has_reader = await cursor.fetchone()
    applied: list[int] = []
    if has_migrations:
        cursor = await conn.execute(_applied_query(has_reader))
        applied = [row[0] for row in await cursor.fetchall()]
    problem = schema_problem(_kind_from(has_jobs, has_migrations), applied, directory)
    if problem:
        raise SchemaVersionMismatch(problem)
