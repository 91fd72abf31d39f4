"""The migrations runner: which migrations a database has, and applying the rest.

The migration files are described in procrastinate._db.files. Each file runs
in its own transaction, together with the insert of its row in
procrastinate_migrations (number, name, phase, sha256 of the file), unless its
first line is ``-- migration: no-transaction`` (for CREATE INDEX CONCURRENTLY
and batched backfills that commit as they go): its statements then run one by
one, and its row is written once they all succeeded, so such a file must be
safe to re-run.

A database is one of four kinds (procrastinate._db.version):

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
command line (procrastinate schema --migrate / --status, see cli_schema) and
from Django's migrations. Whether code may run on a database (every pre
migration it ships applied) is procrastinate._db.version's question.
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
from collections.abc import Callable
from typing import Any, NamedTuple

from procrastinate._db import files, sqlsplit, version
from procrastinate._db import schema_queries as sq
from procrastinate._db.files import (
    PHASES,
    Migration,
    MigrationError,
    discover,
    discover_upstream,
)

# pg_advisory_lock key: "procmigr" read as 8 ASCII bytes, so it cannot collide
# with small integer keys applications pick.
ADVISORY_LOCK_KEY = int.from_bytes(b"procmigr", "big") - 2**63
MIGRATE_COMMAND = version.MIGRATE_COMMAND


class ChecksumMismatch(MigrationError):
    """A released migration file was edited after it was applied here."""


class MigrationLocked(MigrationError):
    """Another process is applying migrations."""


class UnsupportedDatabase(MigrationError):
    """The database holds something this version cannot migrate."""


# --------------------------------------------------------------------------
# Database state


def database_kind(conn: Any) -> str:
    """empty, current, upstream (procrastinate 3.x) or converting."""
    return version.read(conn).kind


def check_upstream_schema(conn: Any) -> None:
    """Refuse a procrastinate 3.x database older than the 3.4-3.10 schema."""
    missing = [
        what
        for what, query in sq.UPSTREAM_FINGERPRINT.items()
        if (row := conn.execute(query).fetchone()) is None or row[0] is None
    ]
    if missing:
        raise UnsupportedDatabase(
            "this database was created by a procrastinate older than 3.10 (it lacks "
            + ", ".join(missing)
            + "): bring it to procrastinate 3.10's schema first with procrastinate's own"
            " migrations (procrastinate schema --migrations-path lists them)"
        )


def _recorded(
    conn: Any, upstream: bool = False
) -> dict[int, tuple[str, str, str, datetime.datetime]]:
    """The rows of procrastinate_migrations (of the 3.x conversion's
    tracking table with ``upstream``), by number."""
    table = sq.UPSTREAM_TRACKING if upstream else "procrastinate_migrations"
    if not conn.execute(sq.TABLE_EXISTS, {"table": table}).fetchone()[0]:
        return {}
    query = sq.RECORDED_UPSTREAM_MIGRATIONS if upstream else sq.RECORDED_MIGRATIONS
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in conn.execute(query)}


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
    converting = database_kind(conn) in ("upstream", "converting")

    def state(m: Migration, recorded: dict[int, Any], **extra: Any) -> MigrationState:
        row = recorded.get(m.number)
        applied_at, checksum_ok = (row[3], row[2] == m.checksum) if row else (None, None)
        return MigrationState(m.number, m.name, m.phase, applied_at, checksum_ok, **extra)

    states = []
    if converting:
        done = _recorded(conn, upstream=True)
        states = [state(m, done, upstream=True) for m in discover_upstream(directory)]
    recorded = _recorded(conn)
    main = discover(directory)
    for m in main:
        baseline = m.number == 1 and converting and m.number not in recorded
        note = "recorded by the 3.x conversion's last pre step" if baseline else ""
        states.append(state(m, recorded, note=note))
    shipped = {m.number for m in main}
    states += [
        MigrationState(
            number, name, phase, applied_at, None, shipped=False,
            note="not shipped with this version (the database is newer)",
        )
        for number, (name, phase, _checksum, applied_at) in sorted(recorded.items())
        if number not in shipped
    ]
    upstream_states = [s for s in states if s.upstream]
    return upstream_states + sorted((s for s in states if not s.upstream), key=lambda s: s.number)


def _verify_checksums(conn: Any, main: list[Migration], upstream: list[Migration]) -> None:
    for is_upstream, migrations in ((False, main), (True, upstream)):
        recorded = _recorded(conn, upstream=is_upstream)
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

    applied_main = set(_recorded(conn))
    if kind in ("upstream", "converting"):
        if kind == "upstream":
            check_upstream_schema(conn)
        if not main or main[0].number != 1:
            raise MigrationError(
                "the 3.x conversion needs migration 0001 (migrations/pre/0001_*.sql)"
            )
        done = set(_recorded(conn, upstream=True))
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
    other = {"pre": "post", "post": "pre"}
    for m in pending:
        if phase is not None and m.phase != phase:
            continue
        blocking = [p for p in pending if p.phase == other[m.phase] and p.number < m.number]
        if phase is not None and blocking:
            first = blocking[0]
            why = " (an earlier release's contract step)" if phase == "pre" else ""
            safe = " (safe once no code older than that release runs)" if phase == "pre" else ""
            raise MigrationError(
                f"{first.phase} migration {first.number:04d}_{first.name}{why} must be applied"
                f" before {m.phase} migration {m.number:04d}_{m.name}: run"
                f" `{MIGRATE_COMMAND} --phase {first.phase}` first{safe}"
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


def _apply_one(conn: Any, m: Migration, steps_plan: Plan, baseline: Migration | None) -> None:
    def record(query: str, migration: Migration) -> None:
        conn.execute(
            query,
            {
                "number": migration.number,
                "name": migration.name,
                "phase": migration.phase,
                "checksum": migration.checksum,
            },
        )

    def bookkeeping() -> None:
        if m.upstream:
            conn.execute(sq.CREATE_UPSTREAM_TRACKING)
            record(sq.RECORD_UPSTREAM_MIGRATION, m)
        else:
            record(sq.RECORD_MIGRATION, m)
        if steps_plan.record_baseline_after is m and baseline is not None:
            record(sq.RECORD_MIGRATION, baseline)
        if steps_plan.finish_conversion_after is m:
            conn.execute(sq.DROP_UPSTREAM_TRACKING)

    try:
        if m.transactional:
            with conn.transaction():
                conn.execute(m.sql())
                bookkeeping()
        else:
            for statement in sqlsplit.split_statements(m.sql()):
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
        lock = {"key": ADVISORY_LOCK_KEY}
        if not conn.execute(sq.TRY_MIGRATION_LOCK, lock).fetchone()[0]:
            if not wait:
                raise MigrationLocked(
                    "another process is applying procrastinate migrations to this database"
                )
            conn.execute(sq.MIGRATION_LOCK, lock)
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
            conn.execute(sq.MIGRATION_UNLOCK, lock)
    finally:
        conn.autocommit = previous_autocommit


def apply_schema(conn: Any) -> bool:
    """Install the schema (sql/*.sql) on an empty database; False, changing nothing, otherwise."""
    if database_kind(conn) != "empty":
        return False
    with conn.transaction():
        conn.execute(files.read_schema())
    return True
