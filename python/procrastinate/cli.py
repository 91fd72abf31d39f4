"""The ``procrastinate`` command line.

    procrastinate [-a APP] [-v | --log-level L] COMMAND ...

Commands: ``worker``, ``defer``, ``schema``, ``healthchecks``, ``shell``.
Every option may also come from an environment variable
(``PROCRASTINATE_<OPTION>``, ``PROCRASTINATE_WORKER_<OPTION>``,
``PROCRASTINATE_DEFER_<OPTION>``); an empty variable counts as unset.
Mistakes in the input end with one line on stderr: exit code 2 for usage
errors (options, ``--app``), 1 when the command itself fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import shlex
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import procrastinate
from procrastinate import (
    cli_schema,
    database_probe,
    exceptions,
    jobs,
    shell,
    utils,
)
from procrastinate import connector as connector_module
from procrastinate._db import version as schema_version

logger = logging.getLogger(__name__)

PROGRAM_NAME = "procrastinate"
ENV_PREFIX = PROGRAM_NAME.upper()
LOG_LEVELS = ["debug", "info", "warning", "error", "critical"]


class UsageError(Exception):
    """Bad command line input: reported in one line, exit code 2."""


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def print_stderr(*args: Any) -> None:
    print(*args, file=sys.stderr)


def one_line(error: BaseException) -> str:
    """The messages of an exception and of its causes, on one line."""
    messages: list[str] = []
    for exc in utils.causes(error):
        message = " ".join(str(exc).split())
        if message and message not in messages:
            messages.append(message)
    return ": ".join(messages) or type(error).__name__


# --- options and environment variables -------------------------------------------


class Flag(argparse.Action):
    """A boolean flag with its opposite: the option strings listed in
    ``negatives`` set False, the others True."""

    def __init__(self, option_strings: list[str], dest: str, negatives: Iterable[str] = (),
                 **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, **kwargs)
        self.negatives = set(negatives)

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None):
        setattr(namespace, self.dest, option_string not in self.negatives)


def env_bool(value: str) -> bool:
    first = value.strip().lower()[:1]
    if first in ("1", "y", "t"):
        return True
    if first in ("0", "n", "f"):
        return False
    raise ValueError(f"expected one of 0/n/f or 1/y/t, got {value!r}")


def add_argument(
    parser: argparse._ActionsContainer,
    *names: str,
    envvar: str | None = None,
    envvar_type: Callable[[str], Any] | None = None,
    **kwargs: Any,
) -> argparse.Action:
    """``parser.add_argument``, the default coming from ``PROCRASTINATE_<envvar>``
    when that variable is set and not empty."""
    if envvar is not None:
        variable = f"{ENV_PREFIX}_{envvar.upper()}"
        raw = os.environ.get(variable, "")
        if raw != "":
            convert = envvar_type or kwargs.get("type") or str
            try:
                kwargs["default"] = convert(raw)
            except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
                raise UsageError(f"invalid value in {variable}: {exc}") from exc
        kwargs["help"] = f"{kwargs.get('help', '')} (env: {variable})".strip()
    return parser.add_argument(*names, **kwargs)


def cast_log_level(value: str) -> str:
    level = value.strip().lower()
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return level


def cast_queues(value: str) -> list[str] | None:
    queues = [queue.strip() for queue in value.split(",")]
    return [queue for queue in queues if queue] or None


def cast_delete_jobs(value: str) -> jobs.DeleteJobCondition:
    try:
        return jobs.DeleteJobCondition(value)
    except ValueError:
        choices = ", ".join(c.value for c in jobs.DeleteJobCondition)
        raise argparse.ArgumentTypeError(
            f"invalid choice: {value!r} (choose from {choices})"
        ) from None


def cast_schedule_in(value: str) -> dict[str, float]:
    try:
        return utils.parse_timedelta_params(value)  # type: ignore[return-value]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cast_datetime(value: str) -> Any:
    try:
        return utils.parse_datetime(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date and time: {value!r}") from None


PARSER_OPTIONS: dict[str, Any] = {
    "allow_abbrev": False,
    "formatter_class": argparse.ArgumentDefaultsHelpFormatter,
}


def create_parser() -> ArgumentParser:
    return ArgumentParser(
        prog=PROGRAM_NAME,
        description="Interact with a Procrastinate app. See subcommands for details.",
        **PARSER_OPTIONS,
    )


def add_cli_features(parser: argparse.ArgumentParser) -> None:
    """Logging and version options (for the standalone command)."""
    group = parser.add_argument_group("Logging")
    verbosity = group.add_mutually_exclusive_group()
    add_argument(
        verbosity, "-v", "--verbose", action="count", default=0, envvar="VERBOSE",
        envvar_type=int, help="Use multiple times to increase verbosity",
    )
    add_argument(
        verbosity, "--log-level", choices=LOG_LEVELS, envvar="LOG_LEVEL",
        envvar_type=cast_log_level, help="Set the log level explicitly",
    )
    add_argument(
        group, "--log-format", default=logging.BASIC_FORMAT, envvar="LOG_FORMAT",
        help="Format of the log lines (logging.Formatter syntax)",
    )
    add_argument(
        group, "--log-format-style", default="%", choices=["%", "{", "$"],
        envvar="LOG_FORMAT_STYLE", help="Style of --log-format",
    )
    parser.add_argument(
        "-V", "--version", action="version", help="Print the version and exit",
        version=f"%(prog)s, version {procrastinate.__version__}",
    )


def add_arguments(
    parser: argparse.ArgumentParser,
    include_app: bool = True,
    include_schema: bool = True,
    custom_healthchecks: Callable[[procrastinate.App], Awaitable[None]] | None = None,
) -> argparse.ArgumentParser:
    """The app option and the subcommands (also used by the Django command)."""
    if include_app:
        add_argument(
            parser, "-a", "--app", default="", envvar="APP",
            help="Dotted path to the Procrastinate app",
        )
    subparsers = parser.add_subparsers(dest="command", required=True)
    configure_worker_parser(subparsers)
    configure_defer_parser(subparsers)
    if include_schema:
        configure_schema_parser(subparsers)
    healthchecks_parser = subparsers.add_parser(
        "healthchecks", help="Check the database connection and schema", **PARSER_OPTIONS
    )
    healthchecks_parser.set_defaults(func=custom_healthchecks or healthchecks)
    shell_parser = subparsers.add_parser(
        "shell", help="Administration shell for procrastinate", **PARSER_OPTIONS
    )
    shell_parser.add_argument(
        "shell_command", nargs="*", help="Run this shell command and exit"
    )
    shell_parser.set_defaults(func=shell_)
    return parser


def configure_worker_parser(subparsers: Any) -> None:
    worker = subparsers.add_parser(
        "worker",
        help="Run a worker on the given queues (or all queues). Options not given "
        "come from App.worker_defaults, then the defaults of App.run_worker().",
        argument_default=argparse.SUPPRESS,
        **PARSER_OPTIONS,
    )
    worker.set_defaults(func=worker_)
    add_argument(worker, "-n", "--name", envvar="WORKER_NAME", help="Name of the worker")
    add_argument(
        worker, "-q", "--queues", type=cast_queues, envvar="WORKER_QUEUES",
        help="Comma-separated queues to take jobs from (empty: all queues)",
    )
    add_argument(
        worker, "-c", "--concurrency", type=int, envvar="WORKER_CONCURRENCY",
        help="How many jobs to run at once",
    )
    add_argument(
        worker, "--prefetch", type=int, envvar="WORKER_PREFETCH",
        help="Jobs to claim ahead of free slots while jobs are short "
        "(default: 10 per slot, at most 100; 0: never)",
    )
    add_argument(
        worker, "-p", "--fetch-job-polling-interval", type=float,
        envvar="WORKER_FETCH_JOB_POLLING_INTERVAL",
        help="Seconds between looks for jobs when no notification comes",
    )
    add_argument(
        worker, "-a", "--abort-job-polling-interval", type=float,
        envvar="WORKER_ABORT_JOB_POLLING_INTERVAL",
        help="Seconds between checks for abort requests",
    )
    add_argument(
        worker, "--shutdown-graceful-timeout", type=float,
        envvar="WORKER_SHUTDOWN_GRACEFUL_TIMEOUT",
        help="Seconds running jobs get to finish when stopping, before they are aborted",
    )
    add_argument(
        worker, "-w", "--wait", "--one-shot", action=Flag, negatives=["--one-shot"],
        envvar="WORKER_WAIT", envvar_type=env_bool,
        help="Wait for new jobs (--wait) or stop once no job is left (--one-shot)",
    )
    add_argument(
        worker, "-l", "--listen-notify", "--no-listen-notify", action=Flag,
        negatives=["--no-listen-notify"], envvar="WORKER_LISTEN_NOTIFY",
        envvar_type=env_bool, help="Be woken by notifications, or only poll",
    )
    add_argument(
        worker, "--delete-jobs", type=cast_delete_jobs, envvar="WORKER_DELETE_JOBS",
        metavar="{" + ",".join(c.value for c in jobs.DeleteJobCondition) + "}",
        help="Which finished jobs to delete",
    )


def configure_defer_parser(subparsers: Any) -> None:
    defer_parser = subparsers.add_parser(
        "defer",
        help="Create a job of TASK (a task name) with JSON_ARGS (a JSON object of "
        "keyword arguments), to be run by a worker",
        **PARSER_OPTIONS,
    )
    defer_parser.set_defaults(func=defer)
    defer_parser.add_argument("task", help="Name of the task")
    add_argument(
        defer_parser, "json_args", nargs="?", envvar="DEFER_JSON_ARGS",
        help="JSON object with the task's keyword arguments",
    )
    add_argument(
        defer_parser, "--queue", default=argparse.SUPPRESS, envvar="DEFER_QUEUE",
        help="Queue of the job (default: the task's queue)",
    )
    add_argument(
        defer_parser, "--lock", default=argparse.SUPPRESS, envvar="DEFER_LOCK",
        help="Jobs sharing a lock never run at the same time",
    )
    add_argument(
        defer_parser, "--queueing-lock", default=argparse.SUPPRESS,
        envvar="DEFER_QUEUEING_LOCK",
        help="Refuse the job if one with this queueing lock is already waiting",
    )
    add_argument(
        defer_parser, "-i", "--ignore-already-enqueued", "--no-ignore-already-enqueued",
        action=Flag, negatives=["--no-ignore-already-enqueued"], default=False,
        envvar="DEFER_IGNORE_ALREADY_ENQUEUED", envvar_type=env_bool,
        help="Exit with code 0 when the queueing lock is taken (the error is shown)",
    )
    when = defer_parser.add_mutually_exclusive_group()
    add_argument(
        when, "--at", dest="schedule_at", type=cast_datetime, default=argparse.SUPPRESS,
        envvar="DEFER_AT", help="Run the job at or after this ISO 8601 date and time",
    )
    add_argument(
        when, "--in", dest="schedule_in", type=cast_schedule_in,
        default=argparse.SUPPRESS, envvar="DEFER_IN",
        help="Run the job after this many seconds (or a duration such as 1h30m)",
    )
    add_argument(
        defer_parser, "--priority", type=int, default=argparse.SUPPRESS,
        envvar="DEFER_PRIORITY", help="Priority of the job, higher runs first (default 0)",
    )
    add_argument(
        defer_parser, "--unknown", "--no-unknown", action=Flag, negatives=["--no-unknown"],
        default=False, envvar="DEFER_UNKNOWN", envvar_type=env_bool,
        help="Allow a task name the app does not know",
    )


def configure_schema_parser(subparsers: Any) -> None:
    schema_parser = subparsers.add_parser(
        "schema", help="Install the SQL schema, or show it", **PARSER_OPTIONS
    )
    schema_parser.set_defaults(func=schema, action="apply")
    actions = schema_parser.add_mutually_exclusive_group()
    for option, action, text in (
        ("--apply", "apply", "Install the schema in an empty database (default)"),
        ("--read", "read", "Print the schema SQL"),
        ("--migrations-path", "migrations_path", "Print the migrations folder"),
    ):
        actions.add_argument(option, action="store_const", const=action, dest="action",
                             help=text)
    # --migrate, --status, --phase, --dry-run: the migrations runner's options.
    cli_schema.add_schema_arguments(schema_parser, actions)


# --- loading the app and running a command ----------------------------------------------


class _NoAppConnector(connector_module.BaseAsyncConnector):
    """Stands for the connector when no app was given: any query fails."""

    async def open_async(self, pool: Any = None) -> None:
        pass

    async def close_async(self) -> None:
        pass

    def open(self, pool: Any = None) -> None:
        pass

    def close(self) -> None:
        pass

    async def _missing(self, *args: Any, **kwargs: Any) -> Any:
        raise exceptions.MissingApp

    execute_query_async = execute_query_one_async = execute_query_all_async = _missing
    listen_notify = _missing  # type: ignore[assignment]

    def transaction_async(self) -> Any:
        raise exceptions.MissingApp


def load_app(app_path: str) -> procrastinate.App:
    """The App at ``app_path`` (UsageError if there is none); with no path,
    an App whose every query fails with MissingApp."""
    if not app_path:
        return procrastinate.App(connector=_NoAppConnector())
    if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+", app_path):
        raise UsageError(
            f"Could not load app from {app_path!r}: expected a dotted path such as "
            "mypackage.module.app"
        )
    # Like `python -m`: modules of the current directory can be found.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        app = procrastinate.App.from_path(dotted_path=app_path)
    except Exception as exc:
        raise UsageError(f"Could not load app from {app_path}: {one_line(exc)}") from exc
    if not isinstance(app.connector, connector_module.BaseAsyncConnector):
        raise UsageError(
            f"The connector of {app_path} is not asynchronous: the procrastinate "
            "command needs an async connector (such as PsycopgConnector)"
        )
    return app


def get_log_level(verbosity: int | None = None, log_level: str | None = None) -> int:
    if log_level:
        return getattr(logging, log_level.upper())
    return logging.DEBUG if verbosity else logging.INFO


def configure_logging(
    verbosity: int | None = None,
    log_level: str | None = None,
    format: str = logging.BASIC_FORMAT,
    style: str = "%",
) -> None:
    level = get_log_level(verbosity=verbosity, log_level=log_level)
    logging.basicConfig(level=level, format=format, style=style)  # type: ignore[arg-type]
    logger.debug(
        f"Log level set to {logging.getLevelName(level)}",
        extra={"action": "set_log_level", "value": logging.getLevelName(level)},
    )


def parse_args(args: list[str]) -> dict[str, Any]:
    parser = create_parser()
    add_arguments(parser)
    add_cli_features(parser)
    return vars(parser.parse_args(args))


async def cli(args: list[str]) -> None:
    try:
        parsed = parse_args(args)
        configure_logging(
            verbosity=parsed.pop("verbose", None),
            log_level=parsed.pop("log_level", None),
            format=parsed.pop("log_format"),
            style=parsed.pop("log_format_style"),
        )
        parsed["app"] = load_app(parsed["app"])
    except UsageError as exc:
        print_stderr(f"{PROGRAM_NAME}: error: {exc}")
        sys.exit(2)
    await execute_command(parsed)


async def execute_command(parsed: dict[str, Any]) -> None:
    """Run the parsed command with its app (opened unless the command
    needs no database). Errors end the process with one line, exit code 1."""
    parsed.pop("command", None)
    app: procrastinate.App = parsed.pop("app")
    func = parsed.pop("func")
    try:
        if getattr(func, "without_database", lambda **_: False)(**parsed):
            await func(app=app, **parsed)
            return
        if not await reach_database(app, wait=getattr(func, "waits_for_database", False)):
            return
        async with app.open_async():
            await func(app=app, **parsed)
    except BrokenPipeError:
        # The reader of our output went away (`procrastinate schema --read | head`).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except Exception as exc:
        logger.debug("Exception details:", exc_info=exc)
        print_stderr(one_line(exc))
        sys.exit(1)


async def reach_database(app: procrastinate.App, wait: bool) -> bool:
    """Before the pool opens: fail at once with PostgreSQL's message when
    the database refuses us (password, role, database, SSL settings). An
    unreachable database fails the command, or with ``wait`` (the worker) is
    waited for, a line logged at each attempt; False when SIGINT/SIGTERM
    came meanwhile (the command then ends, exit code 0)."""
    if not wait:
        await database_probe.check_reachable(app.connector)
        return True
    return await database_probe.wait_until_reachable(app.connector, handle_signals=True)


# --- commands --------------------------------------------------------------------------


async def worker_(app: procrastinate.App, **options: Any) -> None:
    """Run a worker until it is stopped (SIGINT / SIGTERM)."""
    queues = options.get("queues")
    print_stderr(f"Launching a worker on {', '.join(queues) if queues else 'all queues'}")
    await app.run_worker_async(**options)


# A worker started while the database is down waits for it (execute_command).
worker_.waits_for_database = True  # type: ignore[attr-defined]


def load_json_args(json_args: str | None, json_loads: Callable[[str], Any]) -> dict[str, Any]:
    if json_args is None:
        return {}
    try:
        args = json_loads(json_args)
    except Exception as exc:
        raise ValueError(
            f"Incorrect JSON_ARGS value expecting a valid json object (or dict): {exc}"
        ) from None
    if not isinstance(args, dict):
        raise ValueError(
            "Incorrect JSON_ARGS value expecting a valid json object (or dict), "
            f"got {type(args).__name__}"
        )
    return args


async def defer(
    app: procrastinate.App,
    task: str,
    json_args: str | None,
    ignore_already_enqueued: bool,
    unknown: bool,
    **configure_kwargs: Any,
) -> None:
    """Defer one job of ``task``."""
    args = load_json_args(json_args, app.connector.json_loads or json.loads)
    deferrer = app.configure_task(name=task, allow_unknown=unknown, **configure_kwargs)
    shown = ", ".join(f"{key}={value!r}" for key, value in args.items())
    print_stderr(f"Launching a job: {task}({shown})")
    try:
        await deferrer.defer_async(**args)
    except exceptions.AlreadyEnqueued as exc:
        if not ignore_already_enqueued:
            raise
        print_stderr(f"{exc} (ignored)")


def _runs_migrations(connector: Any) -> bool:
    """Whether the migrations runner can reach the database of this
    connector (it opens a psycopg connection with the pool's conninfo)."""
    return isinstance(getattr(getattr(connector, "pool", None), "conninfo", None), str)


async def schema(
    app: procrastinate.App, action: str, phase: str | None = None, dry_run: bool = False
) -> None:
    """Install the schema, migrate it, show its status, or print the schema
    or the migrations folder."""
    manager = app.schema_manager
    if action == "read":
        print(manager.get_schema().strip())
    elif action == "migrations_path":
        print(manager.get_migrations_path())
    elif action == "apply" and not _runs_migrations(app.connector):
        print_stderr("Applying schema")
        await manager.apply_schema_async()
        print_stderr("Done")
    else:
        if action == "apply":
            print_stderr("Applying schema")
        code = await cli_schema.run_schema_command_async(
            action, app.connector, phase=phase, dry_run=dry_run,
            echo=print_stderr if action == "apply" else print,
        )
        if code:
            sys.exit(code)
        if action == "apply":
            print_stderr("Done")


schema.without_database = lambda action, **_: action in ("read", "migrations_path")  # type: ignore[attr-defined]


async def healthchecks(app: procrastinate.App) -> None:
    """Check the database connection, and that the schema is there and is one
    a worker accepts (exit code 1 with the reason otherwise)."""
    installed = await app.check_connection_async()
    print("App configuration: OK")
    print("DB connection: OK")
    if not installed:
        raise RuntimeError(
            "Connection to the database works but the procrastinate_jobs table was not "
            "found. Have you applied the schema (see `procrastinate schema -h`)?"
        )
    print("Found procrastinate_jobs table: OK")
    # What a worker checks before it starts: every pre migration of this
    # code applied, and no procrastinate 3.x schema left to convert.
    await schema_version.check_async(app.connector)
    print("Schema version: OK")


async def shell_(app: procrastinate.App, shell_command: list[str]) -> None:
    """The administration shell; with a command, run it and exit."""
    admin = shell.ProcrastinateShell(job_manager=app.job_manager)
    if shell_command:
        await utils.sync_to_async(admin.onecmd, shlex.join(shell_command))
    else:
        await utils.sync_to_async(admin.cmdloop)


def main() -> None:
    try:
        asyncio.run(cli(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
