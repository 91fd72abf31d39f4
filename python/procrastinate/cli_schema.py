"""`procrastinate schema`: the schema lifecycle (procrastinate._db.migrations)
for people: arguments, output, exit codes."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from typing import Any

from procrastinate._db.files import PHASES, MigrationError
from procrastinate._db.migrations import (
    MIGRATE_COMMAND,
    MigrationState,
    apply_schema,
    database_kind,
    migrate,
    status,
)
from procrastinate.cli_options import PARSER_OPTIONS, print_stderr

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
        state = "EDITED" if s.checksum_ok is False else "applied"
        state = "pending" if s.applied_at is None else state
        when = s.applied_at.strftime("%Y-%m-%d %H:%M:%S%z") if s.applied_at else ""
        if s.note:
            when = f"{when}  ({s.note})".lstrip()
        rows.append((label, s.phase, state, when))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = [f"Database: {_KIND_TEXT.get(kind, kind)}", ""]
    for r in [header, tuple("-" * w for w in widths) + ("-" * 10,), *rows]:
        lines.append(
            "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(r)).rstrip()
        )
    waiting = [s for s in states if s.applied_at is None]
    summary = f"{len(states) - len(waiting)} applied, {len(waiting)} pending"
    if waiting:
        pre = sum(1 for s in waiting if s.phase == "pre")
        summary += f" ({pre} pre, {len(waiting) - pre} post)"
    lines += ["", summary + "."]
    if any(s.checksum_ok is False for s in states):
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


def _add_actions(group: Any, *actions: tuple[str, str]) -> None:
    for option, text in actions:
        const = option[2:].replace("-", "_")
        # SUPPRESS: the parser's default ("apply") is not each flag's own, so
        # the help does not print it beside every one of them.
        group.add_argument(
            option, action="store_const", const=const, dest="action", help=text,
            default=argparse.SUPPRESS,
        )


def add_schema_arguments(parser: argparse.ArgumentParser, actions: Any = None) -> None:
    """Add --migrate, --status (to `actions`, the group holding --apply/--read, if
    given), --phase and --dry-run to the `schema` sub-parser."""
    _add_actions(
        parser if actions is None else actions,
        ("--migrate", "Apply the pending migrations (all, or those of --phase)"),
        ("--status", "List applied and pending migrations"),
    )
    parser.add_argument(
        "--phase", choices=PHASES, default=argparse.SUPPRESS,
        help="With --migrate: pre (expand, before deploying new code) or post "
        "(contract, once no older code runs); default: both",
    )
    parser.add_argument(
        "--dry-run", action="store_true", default=argparse.SUPPRESS,
        help="With --migrate: say what would be applied, apply nothing",
    )


def configure_parser(subparsers: Any) -> None:
    """The `schema` sub-command of the procrastinate command."""
    parser = subparsers.add_parser(
        "schema", help="Install the SQL schema, or show it", **PARSER_OPTIONS
    )
    parser.set_defaults(func=schema, action="apply")
    actions = parser.add_mutually_exclusive_group()
    _add_actions(
        actions,
        ("--apply", "Install the schema in an empty database (default)"),
        ("--read", "Print the schema SQL"),
        (
            "--migrations-path",
            "Print a folder of psql-ready scripts, one per migration, in `ls` order"
            " (cat FOLDER/FILE | psql applies and records one; --migrate does them all)",
        ),
    )
    add_schema_arguments(parser, actions)


async def schema(app: Any, action: str, phase: str | None = None, dry_run: bool = False) -> None:
    """Install the schema, migrate it, show its status, or print the schema
    or the migrations folder."""
    manager = app.schema_manager
    if action in ("read", "migrations_path"):
        print(manager.get_schema().strip() if action == "read" else manager.get_migrations_path())
        return
    applying = action == "apply"
    if applying:
        print_stderr("Applying schema")
    # Connectors the migrations runner cannot reach (no psycopg 3 conninfo)
    # can still install the schema.
    if applying and await app.connector.side_connection_params() is None:
        await manager.apply_schema_async()
    elif code := await run_schema_command_async(
        action, app.connector, phase=phase, dry_run=dry_run,
        echo=print_stderr if applying else print,
    ):
        sys.exit(code)
    if applying:
        print_stderr("Done")


# No database is opened to print the schema or the migrations folder.
schema.without_database = lambda action, **_: action in ("read", "migrations_path")  # type: ignore[attr-defined]


async def run_schema_command_async(action: str, connector: Any, **options: Any) -> int:
    """run_schema_command for the CLI's opened async connector (PsycopgConnector):
    a connection of its own (same settings as the pool), in a thread."""
    import psycopg

    params = await connector.side_connection_params()
    if params is None:
        raise MigrationError("procrastinate schema --migrate/--status need a PsycopgConnector")
    conninfo, kwargs = params

    def run() -> int:
        with psycopg.connect(conninfo, **kwargs) as conn:
            return run_schema_command(action, conn, **options)

    return await asyncio.to_thread(run)


def run_schema_command(
    action: str, conn: Any, *, phase: str | None = None, dry_run: bool = False,
    echo: Callable[[str], None] = print,
) -> int:
    """Run `schema --migrate|--status|--apply` on a psycopg connection (no
    transaction open); prints with `echo`; returns the exit code."""
    previous_autocommit = conn.autocommit
    conn.autocommit = True
    try:
        if action == "status":
            echo(format_status(database_kind(conn), status(conn)))
        elif action == "apply":
            if apply_schema(conn):
                echo("Schema applied.")
            else:
                echo(
                    "The database already has a procrastinate schema"
                    f" ({_KIND_TEXT[database_kind(conn)]}): nothing changed. Use"
                    f" `{MIGRATE_COMMAND}` to bring it up to date"
                    " (`procrastinate schema --status` lists what is pending)."
                )
        elif action != "migrate":
            raise ValueError(f"unknown schema action {action!r}")
        else:
            steps = migrate(
                conn, phase, dry_run=dry_run, on_step=lambda m: echo(f"Applying {m.label}...")
            )
            for note in steps.notes:
                echo(note)
            for m in steps.steps if dry_run else []:
                outside = "" if m.transactional else " (outside a transaction)"
                echo(f"Would apply {m.label}{outside}")
            if not steps.steps:
                echo("Nothing to apply.")
            elif not dry_run:
                echo(f"{len(steps.steps)} migration(s) applied.")
            if not dry_run and database_kind(conn) == "converting":
                echo(
                    "The procrastinate 3.x conversion is half-way: 3.x and new workers can both"
                    f" run. Once no 3.x worker runs: {MIGRATE_COMMAND} --phase post"
                )
        return 0
    except MigrationError as exc:
        echo(f"Error: {exc}")
        return 1
    finally:
        conn.autocommit = previous_autocommit
