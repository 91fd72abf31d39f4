"""The migrations runner: which migrations a database has, and applying the rest.

Each file (procrastinate._db.files) runs in its own transaction together with
the insert of its row in procrastinate_migrations (number, name, phase, sha256),
unless it is marked ``-- migration: no-transaction`` (CREATE INDEX CONCURRENTLY,
batched backfills): its statements then run one by one and its row is written
once they all succeeded, so such a file must be safe to re-run.

A database (see procrastinate._db.version for its kinds) gets its pending
migrations, or all of them when empty. One created by procrastinate 3.x
(schema 3.10) is converted by migrations/upstream/: its pre files keep 3.x
workers working and add all of 0001, recorded at the end of the last one; its
post files drop what only 3.x used. Their progress is kept in
procrastinate_upstream_migrations, which exists only while the conversion is
under way.

A session advisory lock keeps two deployers from interleaving; a recorded
checksum that differs from its shipped file (a released migration was edited)
stops everything. Synchronous, over a psycopg 3 connection: the CLI's
``schema --migrate / --status`` (cli_schema) and Django's migrations use it.
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
from collections.abc import Callable
from typing import Any, NamedTuple

from psycopg import sql

from procrastinate._db import files, sqlsplit, version
from procrastinate._db import schema_queries as sq
from procrastinate._db.files import PHASES, Migration, MigrationError, discover, discover_upstream

# pg_advisory_lock key: "procmigr" read as 8 ASCII bytes, so it cannot collide
# with small integer keys applications pick.
ADVISORY_LOCK_KEY = int.from_bytes(b"procmigr", "big") - 2**63
MIGRATE_COMMAND = version.MIGRATE_COMMAND
_CONVERTING = ("upstream", "converting")
# Where migrations are recorded, and (upstream=True) the 3.x conversion's steps.
_TABLES = {False: sq.MIGRATIONS_TABLE, True: sq.UPSTREAM_TRACKING}


class ChecksumMismatch(MigrationError):
    """A released migration file was edited after it was applied here."""


class MigrationLocked(MigrationError):
    """Another process is applying migrations."""


class UnsupportedDatabase(MigrationError):
    """The database holds something this version cannot migrate."""


def database_kind(conn: Any) -> str:
    """empty, current, upstream (procrastinate 3.x) or converting."""
    return version.read(conn).kind


def check_upstream_schema(conn: Any) -> None:
    """Refuse a procrastinate 3.x database older than the 3.4-3.10 schema."""
    rows = {what: conn.execute(query).fetchone() for what, query in sq.UPSTREAM_FINGERPRINT.items()}
    missing = [what for what, row in rows.items() if row is None or row[0] is None]
    if missing:
        raise UnsupportedDatabase(
            "this database was created by a procrastinate older than 3.10 (it lacks "
            + ", ".join(missing)
            + "): bring it to procrastinate 3.10's schema first with procrastinate 3.10's"
            " own migrations (its procrastinate schema --migrations-path lists them; run it"
            " where procrastinate 3.10 is installed)"
        )


def _on_table(query: str, upstream: bool) -> sql.Composed:
    return sql.SQL(query).format(table=sql.Identifier(_TABLES[upstream]))


def _recorded(conn: Any, upstream: bool = False) -> dict[int, tuple[Any, ...]]:
    """The recorded (name, phase, checksum, applied_at), by number."""
    if not conn.execute(sq.TABLE_EXISTS, {"table": _TABLES[upstream]}).fetchone()[0]:
        return {}
    return {row[0]: row[1:] for row in conn.execute(_on_table(sq.RECORDED_MIGRATIONS, upstream))}


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
    """Every migration, applied (with when and whether its file still matches) or not;
    the 3.x conversion's first."""
    converting = database_kind(conn) in _CONVERTING

    def state(m: Migration, recorded: dict[int, Any], note: str = "") -> MigrationState:
        row = recorded.get(m.number)
        applied_at, checksum_ok = (row[3], row[2] == m.checksum) if row else (None, None)
        return MigrationState(
            m.number, m.name, m.phase, applied_at, checksum_ok, m.upstream, note=note
        )

    upstream = []
    if converting:
        done = _recorded(conn, upstream=True)
        upstream = [state(m, done) for m in discover_upstream(directory)]
    recorded = _recorded(conn)
    main = discover(directory)
    baseline = "recorded by the 3.x conversion's last pre step"
    states = [
        state(m, recorded, baseline if converting and m.number == 1 and 1 not in recorded else "")
        for m in main
    ]
    shipped = {m.number for m in main}
    states += [
        MigrationState(
            number, name, phase, applied_at, None, shipped=False,
            note="not shipped with this version (the database is newer)",
        )
        for number, (name, phase, _checksum, applied_at) in recorded.items()
        if number not in shipped
    ]
    return upstream + sorted(states, key=lambda s: s.number)


def _verify_checksums(conn: Any, migrations: list[Migration], upstream: bool) -> None:
    recorded = _recorded(conn, upstream)
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
    """What migrate() would do: the files in order."""

    steps: list[Migration]
    # the 3.x conversion: record ``baseline`` (0001) after this step, and drop
    # the tracking table after that one
    record_baseline_after: Migration | None = None
    baseline: Migration | None = None
    finish_conversion_after: Migration | None = None
    notes: list[str] = dataclasses.field(default_factory=list)


def plan(
    conn: Any, phase: str | None = None, directory: pathlib.Path | None = None,
    target: int | None = None,
) -> Plan:
    """The migrations migrate() would apply now, in order (refusing impossible orders).

    `target`: stop after the migration of that number (None: the last one).
    """
    if phase not in (None, *PHASES):
        raise ValueError(f"phase must be pre, post or None, got {phase!r}")
    kind = database_kind(conn)
    main = discover(directory)
    _verify_checksums(conn, main, upstream=False)
    wanted = [m for m in main if target is None or m.number <= target]
    if kind == "empty":
        # Nothing runs against an empty database: every phase is safe.
        note = "empty database: applying every migration, pre and post (no code runs on it yet)"
        return Plan(wanted, notes=[note] if phase is not None else [])

    result = Plan([])
    applied = set(_recorded(conn))
    if kind in _CONVERTING:
        _plan_conversion(conn, kind, phase, main, discover_upstream(directory), result)
        applied.add(1)  # 0001 comes with the conversion, never on its own
    pending = [m for m in wanted if m.number not in applied]
    steps = [m for m in pending if phase in (None, m.phase)]
    blocking = [m for m in pending if m.phase != phase]
    if phase is not None and blocking and steps and blocking[0].number < steps[-1].number:
        first = blocking[0]
        m = next(s for s in steps if s.number > first.number)
        why = " (an earlier release's contract step)" if phase == "pre" else ""
        safe = " (safe once no code older than that release runs)" if phase == "pre" else ""
        raise MigrationError(
            f"{first.phase} migration {first.number:04d}_{first.name}{why} must be applied"
            f" before {m.phase} migration {m.number:04d}_{m.name}: run"
            f" `{MIGRATE_COMMAND} --phase {first.phase}` first{safe}"
        )
    result.steps += steps
    return result


def _plan_conversion(
    conn: Any, kind: str, phase: str | None, main: list[Migration], upstream: list[Migration],
    result: Plan,
) -> None:
    """The pending steps of the 3.x conversion, into ``result``."""
    _verify_checksums(conn, upstream, upstream=True)
    if kind == "upstream":
        check_upstream_schema(conn)
    if not main or main[0].number != 1:
        raise MigrationError("the 3.x conversion needs migration 0001 (migrations/pre/0001_*.sql)")
    pre = [m for m in upstream if m.phase == "pre"]
    post = [m for m in upstream if m.phase == "post"]
    if not pre or not post or pre[-1].number > post[0].number:
        raise MigrationError("migrations/upstream/ must hold pre files, then post files")
    done = set(_recorded(conn, upstream=True))
    pending_pre = [m for m in pre if m.number not in done]
    pending_post = [m for m in post if m.number not in done]
    if pending_pre:
        result.record_baseline_after, result.baseline = pre[-1], main[0]
        if phase == "post":
            raise MigrationError(
                "the procrastinate 3.x conversion's pre steps are pending: run "
                f"`{MIGRATE_COMMAND} --phase pre` first"
            )
    if pending_post:
        result.finish_conversion_after = post[-1]
    result.steps += [m for m in pending_pre + pending_post if phase in (None, m.phase)]


def pending(
    conn: Any, phase: str | None = None, directory: pathlib.Path | None = None,
    target: int | None = None,
) -> list[Migration]:
    """The migrations that `migrate(conn, phase, target=target)` would apply, in order."""
    return plan(conn, phase, directory, target).steps


def _apply_one(conn: Any, m: Migration, steps_plan: Plan) -> None:
    def bookkeeping() -> None:
        if m.upstream:
            conn.execute(sq.CREATE_UPSTREAM_TRACKING)
        recorded = [m]
        if steps_plan.record_baseline_after is m and steps_plan.baseline is not None:
            recorded.append(steps_plan.baseline)
        for r in recorded:
            conn.execute(_on_table(sq.RECORD_MIGRATION, r.upstream), vars(r))
        if steps_plan.finish_conversion_after is m:
            conn.execute(sq.DROP_UPSTREAM_TRACKING)

    try:
        sql = files.in_schema(m.sql(), conn.execute(sq.CURRENT_SCHEMA).fetchone()[0])
        if m.transactional:
            with conn.transaction():
                conn.execute(sql)
                bookkeeping()
        else:
            for statement in sqlsplit.split_statements(sql):
                conn.execute(statement)
            with conn.transaction():
                bookkeeping()
    except Exception as exc:
        raise MigrationError(f"migration {m.label} ({m.path}) failed: {exc}") from exc


def migrate(
    conn: Any, phase: str | None = None, dry_run: bool = False,
    directory: pathlib.Path | None = None, wait: bool = True,
    on_step: Callable[[Migration], None] | None = None, target: int | None = None,
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
    previous_autocommit, conn.autocommit = conn.autocommit, True
    lock = {"key": ADVISORY_LOCK_KEY}
    try:
        if not conn.execute(sq.TRY_MIGRATION_LOCK, lock).fetchone()[0]:
            if not wait:
                raise MigrationLocked(
                    "another process is applying procrastinate migrations to this database"
                )
            conn.execute(sq.MIGRATION_LOCK, lock)
        try:
            # Planned under the lock: another deployer may just have finished.
            steps_plan = plan(conn, phase, directory, target)
            for m in steps_plan.steps:
                if on_step is not None:
                    on_step(m)
                _apply_one(conn, m, steps_plan)
            return steps_plan
        finally:
            conn.execute(sq.MIGRATION_UNLOCK, lock)
    finally:
        conn.autocommit = previous_autocommit


def apply_schema(conn: Any) -> bool:
    """Install the schema (sql/*.sql) on an empty database; False, changing nothing, otherwise."""
    if database_kind(conn) != "empty":
        return False
    with conn.transaction():
        schema = conn.execute(sq.CURRENT_SCHEMA).fetchone()[0]
        conn.execute(files.in_schema(files.read_schema(), schema))
    return True
