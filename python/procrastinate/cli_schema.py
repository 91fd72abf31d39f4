"""`procrastinate schema --migrate / --status / --apply`: the schema lifecycle
(procrastinate._db.migrations) for people: arguments, output, exit codes."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from procrastinate._db.files import PHASES, MigrationError
from procrastinate._db.migrations import (
    MIGRATE_COMMAND,
    MigrationState,
    apply_schema,
    database_kind,
    migrate,
    plan,
    status,
)

_KIND_TEXT = {
    "empty": "empty (no procrastinate schema)",
    "current": "procrastinate SQL-core schema",
    "upstream": "procrastinate 3.x schema, not converted yet",
    "converting": "procrastinate 3.x schema, conversion under way",
}


def format_status(kind: str, states: Sequence[MigrationState]) -> str:
    """status() as a table a person can read, with a summary and the next command."""
    header = ("migration", "phase", "state", "applied at")
    rows = []
    for s in states:
        label = f"{'3.x conversion ' if s.upstream else ''}{s.number:04d}_{s.name}"
        if s.applied_at is None:
            state = "pending"
        elif s.checksum_ok is False:
            state = "EDITED"
        else:
            state = "applied"
        when = s.applied_at.strftime("%Y-%m-%d %H:%M:%S%z") if s.applied_at else ""
        if s.note:
            when = f"{when}  ({s.note})" if when else f"({s.note})"
        rows.append((label, s.phase, state, when))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = [f"Database: {_KIND_TEXT.get(kind, kind)}", ""]
    for r in [header, tuple("-" * w for w in widths) + ("-" * 10,), *rows]:
        lines.append(
            "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(r)).rstrip()
        )
    waiting = [s for s in states if s.applied_at is None]
    edited = [s for s in states if s.checksum_ok is False]
    lines.append("")
    summary = f"{sum(1 for s in states if s.applied_at)} applied, {len(waiting)} pending"
    if waiting:
        pre = sum(1 for s in waiting if s.phase == "pre")
        summary += f" ({pre} pre, {len(waiting) - pre} post)"
    lines.append(summary + ".")
    if edited:
        lines.append(
            "EDITED: the file differs from what was applied (a released migration was"
            " changed); migrate refuses to run until it is restored."
        )
    if kind == "empty":
        lines.append("Next: procrastinate schema --apply (or --migrate).")
    elif any(s.phase == "pre" for s in waiting):
        lines.append(f"Next: {MIGRATE_COMMAND} --phase pre, then deploy, then --phase post.")
    elif waiting:
        older = "procrastinate 3.x process" if kind == "converting" else "older code"
        lines.append(f"Next, once no {older} runs: {MIGRATE_COMMAND} --phase post.")
    else:
        lines.append("The schema is up to date.")
    return "\n".join(lines)


def add_schema_arguments(parser: argparse.ArgumentParser, actions: Any = None) -> None:
    """Add --migrate, --status (to `actions`, the group holding --apply/--read, if
    given), --phase and --dry-run to the `schema` sub-parser."""
    group = actions if actions is not None else parser
    group.add_argument(
        "--migrate",
        action="store_const",
        const="migrate",
        dest="action",
        help="Apply the pending migrations (all, or those of --phase)",
    )
    group.add_argument(
        "--status",
        action="store_const",
        const="status",
        dest="action",
        help="List applied and pending migrations",
    )
    parser.add_argument(
        "--phase",
        choices=PHASES,
        default=None,
        help="With --migrate: pre (expand, before deploying new code) or post "
        "(contract, once no older code runs); default: both",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        default=False,
        help="With --migrate: say what would be applied, apply nothing",
    )


async def run_schema_command_async(
    action: str,
    connector: Any,
    *,
    phase: str | None = None,
    dry_run: bool = False,
    echo: Callable[[str], None] = print,
) -> int:
    """run_schema_command for the CLI's opened async connector (PsycopgConnector):
    a connection of its own (same conninfo as the pool), in a thread."""
    import asyncio

    import psycopg

    pool = getattr(connector, "pool", None)
    conninfo, kwargs = getattr(pool, "conninfo", None), getattr(pool, "kwargs", None) or {}
    if not isinstance(conninfo, str) or not isinstance(kwargs, dict):
        raise MigrationError(
            "procrastinate schema --migrate/--status need a PsycopgConnector whose pool has a"
            " plain conninfo (and kwargs)"
        )
    kwargs = dict(kwargs)
    kwargs.pop("autocommit", None)

    def run() -> int:
        with psycopg.connect(conninfo, autocommit=True, **kwargs) as conn:
            return run_schema_command(action, conn, phase=phase, dry_run=dry_run, echo=echo)

    return await asyncio.to_thread(run)


def run_schema_command(
    action: str,
    conn: Any,
    *,
    phase: str | None = None,
    dry_run: bool = False,
    echo: Callable[[str], None] = print,
) -> int:
    """Run `schema --migrate|--status|--apply` on a psycopg connection (no
    transaction open); prints with `echo`; returns the exit code."""
    previous_autocommit = conn.autocommit
    conn.autocommit = True
    try:
        if action == "status":
            echo(format_status(database_kind(conn), status(conn)))
            return 0
        if action == "apply":
            if apply_schema(conn):
                echo("Schema applied.")
            else:
                kind = database_kind(conn)
                echo(
                    f"The database already has a procrastinate schema ({_KIND_TEXT[kind]}):"
                    f" nothing changed. Use `{MIGRATE_COMMAND}` to bring it up to date"
                    " (`procrastinate schema --status` lists what is pending)."
                )
            return 0
        if action != "migrate":
            raise ValueError(f"unknown schema action {action!r}")
        if dry_run:
            steps_plan = plan(conn, phase)
            for note in steps_plan.notes:
                echo(note)
            if not steps_plan.steps:
                echo("Nothing to apply.")
            for m in steps_plan.steps:
                echo(
                    f"Would apply {m.label}{'' if m.transactional else ' (outside a transaction)'}"
                )
            return 0
        done = migrate(conn, phase, on_step=lambda m: echo(f"Applying {m.label}..."))
        for note in done.notes:
            echo(note)
        echo(f"{len(done.steps)} migration(s) applied." if done.steps else "Nothing to apply.")
        if database_kind(conn) == "converting":
            echo(
                "The procrastinate 3.x conversion is half-way: 3.x and new workers can both run."
                f" Once no 3.x worker runs: {MIGRATE_COMMAND} --phase post"
            )
        return 0
    except MigrationError as exc:
        echo(f"Error: {exc}")
        return 1
    finally:
        conn.autocommit = previous_autocommit
