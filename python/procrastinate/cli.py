"""The ``procrastinate`` command line.

    procrastinate [-a APP] [-v | --log-level L] COMMAND ...

Commands: ``worker``, ``defer``, ``schema``, ``healthchecks``, ``shell``,
``dashboard``.
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
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import procrastinate
from procrastinate import (
    _identity,
    cli_options,
    cli_schema,
    database_probe,
    exceptions,
    shell,
    supervisor,
    utils,
)
from procrastinate import connector as connector_module
from procrastinate._db import version as schema_version
from procrastinate.cli_options import PARSER_OPTIONS, UsageError, add_options, print_stderr

logger = logging.getLogger(__name__)

#: The --log-format that writes one JSON object per line.
JSON_LOG_FORMAT = "json"



def one_line(error: BaseException) -> str:
    """The messages of an exception and of its causes, on one line; a cause
    whose first line an earlier message already says is left out."""
    messages: list[str] = []
    for exc in utils.causes(error):
        first = " ".join(str(exc).split("\n", 1)[0].split())
        if first and not any(first in message for message in messages):
            messages.append(" ".join(str(exc).split()))
    return ": ".join(messages) or type(error).__name__


def add_arguments(
    parser: argparse.ArgumentParser,
    include_app: bool = True,
    include_schema: bool = True,
    custom_healthchecks: Callable[[procrastinate.App], Awaitable[None]] | None = None,
    command_required: bool = True,
) -> argparse.ArgumentParser:
    """The app option and the subcommands (also used by the Django command).
    ``command_required=False``: the caller reports a missing subcommand."""
    if include_app:
        add_options(parser, "", cli_options.APP_OPTION)
    subparsers = parser.add_subparsers(dest="command", required=command_required)

    def command(name: str, text: str, func: Any, **kwargs: Any) -> argparse.ArgumentParser:
        command_parser = subparsers.add_parser(name, help=text, **PARSER_OPTIONS, **kwargs)
        command_parser.set_defaults(func=func)
        return command_parser

    worker = command(
        "worker", "Run a worker on the given queues (or all queues). Options not given come "
        "from App.worker_defaults, then the defaults of App.run_worker().", worker_,
        argument_default=argparse.SUPPRESS,
    )
    add_options(worker, "WORKER_", *cli_options.WORKER_OPTIONS)
    defer_parser = command(
        "defer", "Create a job of TASK (a task name) with JSON_ARGS (a JSON object of keyword "
        "arguments), to be run by a worker", defer, argument_default=argparse.SUPPRESS,
    )
    defer_parser.add_argument("task", help="Name of the task")
    add_options(defer_parser, "DEFER_", *cli_options.DEFER_OPTIONS)
    add_options(defer_parser.add_mutually_exclusive_group(), "DEFER_", *cli_options.DEFER_WHEN)
    if include_schema:
        cli_schema.configure_parser(subparsers)
    command("healthchecks", "Check the database connection and schema",
            custom_healthchecks or healthchecks)
    command("shell", "Administration shell for procrastinate", shell_).add_argument(
        "shell_command", nargs="*", help="Run this shell command and exit"
    )
    dashboard = command(
        "dashboard", "Serve the web dashboard (read-only unless --token is given; needs the "
        "dashboard extra: pip install 'procrastinate-sqlcore[dashboard]')", dashboard_,
    )
    add_options(dashboard, "DASHBOARD_", *cli_options.DASHBOARD_OPTIONS)
    return parser


def parse_args(args: list[str]) -> dict[str, Any]:
    parser = cli_options.ArgumentParser(
        prog=cli_options.PROGRAM_NAME,
        description="Interact with a Procrastinate app. See subcommands for details.",
        **PARSER_OPTIONS,
    )
    add_arguments(parser, command_required=False)
    group = parser.add_argument_group("Logging")
    add_options(group.add_mutually_exclusive_group(), "", *cli_options.VERBOSITY_OPTIONS)
    add_options(group, "", *cli_options.LOG_FORMAT_OPTIONS)
    parser.add_argument(
        "-V", "--version", action="version", help="Print the version and exit",
        version=_identity.describe() + ("\n" + (_identity.overlap() or "")).rstrip(),
    )
    parsed = vars(parser.parse_args(args))
    if parsed.get("command") is None:
        # As procrastinate 3.x: the usage, then the error (other errors are one line).
        parser.print_usage(sys.stderr)
        parser.error("the following arguments are required: command")
    return parsed


# --- loading the app and running a command ----------------------------------------------


class _NoAppConnector(connector_module.BaseAsyncConnector):
    """Stands for the connector when no app was given: any query fails."""

    async def open_async(self, pool: Any = None) -> None:
        pass

    async def close_async(self) -> None:
        pass

    async def _missing(self, *args: Any, **kwargs: Any) -> Any:
        raise exceptions.MissingApp

    execute_query_async = execute_query_one_async = execute_query_all_async = _missing
    listen_notify = _missing  # type: ignore[assignment]

    def transaction_async(self) -> Any:
        raise exceptions.MissingApp


#: Commands that need no task, only the database: without --app, they reach
#: it through libpq's environment (PGHOST, PGDATABASE...), as psql does.
DATABASE_ONLY_COMMANDS = ("schema", "healthchecks", "dashboard")


def load_app(app_path: str, command: str | None = None) -> procrastinate.App:
    """The App at ``app_path`` (UsageError if there is none); with no path,
    an App on libpq's environment for DATABASE_ONLY_COMMANDS, else an App
    whose every query fails with MissingApp."""
    if not app_path:
        if command in DATABASE_ONLY_COMMANDS:
            return procrastinate.App(connector=procrastinate.PsycopgConnector())
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


def configure_logging(
    verbosity: int | None = None,
    log_level: str | None = None,
    format: str = logging.BASIC_FORMAT,
    style: Literal["%", "{", "$"] = "%",
) -> None:
    """``format``: a logging.Formatter format, or ``json``: one JSON object
    per line (procrastinate.json_logs)."""
    if log_level:
        level = getattr(logging, log_level.upper())
    else:
        level = logging.DEBUG if verbosity else logging.INFO
    if format == JSON_LOG_FORMAT:
        from procrastinate import json_logs

        logging.basicConfig(level=level, handlers=[json_logs.handler()])
    else:
        logging.basicConfig(level=level, format=format, style=style)
    name = logging.getLevelName(level)
    logger.debug(f"Log level set to {name}", extra={"action": "set_log_level", "value": name})


async def cli(args: list[str]) -> None:
    try:
        parsed = parse_args(args)
        overlap = _identity.overlap()
        if overlap is not None:
            raise UsageError(overlap)
        configure_logging(
            verbosity=parsed.pop("verbose", None),
            log_level=parsed.pop("log_level", None),
            format=parsed.pop("log_format"),
            style=parsed.pop("log_format_style"),
        )
        parsed["app"] = load_app(parsed["app"], parsed.get("command"))
    except UsageError as exc:
        print_stderr(f"{cli_options.PROGRAM_NAME}: error: {exc}")
        sys.exit(2)
    await execute_command(parsed)


async def execute_command(parsed: dict[str, Any]) -> None:
    """Run the parsed command with its app (opened unless the command needs
    no database). Errors end the process with one line, exit code 1."""
    parsed.pop("command", None)
    app: procrastinate.App = parsed.pop("app")
    func = parsed.pop("func")
    try:
        if func is worker_:
            processes = parsed.pop("processes", 1)
            if (link := supervisor.Link.from_environment()) is not None:
                # One of the processes of `worker --processes N`.
                await link.follow(_run(app, func, supervised_options(app, parsed, link.number)))
                return
            if processes > 1:
                await supervise(app, processes, parsed)
                return
        await _run(app, func, parsed)
    except BrokenPipeError:
        # The reader of our output went away (`procrastinate schema --read | head`).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except Exception as exc:
        logger.debug("Exception details:", exc_info=exc)
        print_stderr(one_line(exc))
        sys.exit(1)


async def _run(app: procrastinate.App, func: Any, parsed: dict[str, Any]) -> None:
    if getattr(func, "without_database", lambda **_: False)(**parsed):
        await func(app=app, **parsed)
        return
    # Before the pool opens: a database that refuses us fails at once with
    # PostgreSQL's message; one that cannot be reached fails the command,
    # or is waited for by a worker (SIGINT/SIGTERM meanwhile: exit code 0).
    if func is not worker_:
        await database_probe.check_reachable(app.connector)
    elif not await database_probe.wait_until_reachable(app.connector, handle_signals=True):
        return
    async with app.open_async():
        await func(app=app, **parsed)


# --- commands --------------------------------------------------------------------------


def _json_logs() -> bool:
    from procrastinate import json_logs

    return any(
        isinstance(handler.formatter, json_logs.JsonFormatter)
        for handler in logging.getLogger().handlers
    )


async def worker_(app: procrastinate.App, **options: Any) -> None:
    """Run a worker until it is stopped (SIGINT / SIGTERM)."""
    queues = options.get("queues")
    text = f"Launching a worker on {', '.join(queues) if queues else 'all queues'}"
    if _json_logs():
        # every line of the output is JSON
        logger.info(text, extra={"action": "launch_worker", "queues": queues})
    else:
        print_stderr(text)
    await app.run_worker_async(**options)


def _worker_option(app: procrastinate.App, options: dict[str, Any], name: str) -> Any:
    """An option of the worker as it will run: the command's, else the App's
    worker_defaults, else run_worker's default."""
    from procrastinate import worker

    defaults = {"name": worker.WORKER_NAME, "wait": True, "metrics_port": None,
                "install_signal_handlers": True}
    return options.get(name, app.worker_defaults.get(name, defaults[name]))


def supervised_options(
    app: procrastinate.App, options: dict[str, Any], index: int
) -> dict[str, Any]:
    """The options of worker process ``index`` (from 1) of a supervisor: its
    name takes the suffix ``-INDEX``, its metrics port (when one is given,
    not 0) is the port plus INDEX - 1."""
    options = {**options, "name": supervisor.child_name(
        _worker_option(app, options, "name") or "worker", index
    )}
    if port := _worker_option(app, options, "metrics_port"):
        options["metrics_port"] = port + index - 1
    return options


async def supervise(app: procrastinate.App, processes: int, options: dict[str, Any]) -> None:
    """`worker --processes N`: run N worker processes (procrastinate.supervisor)
    once the database answers; exit code 1 when they could not run."""
    # As a single worker: a refusal fails at once, an unreachable database
    # is waited for; the supervisor itself opens no pool.
    if not await database_probe.wait_until_reachable(app.connector, handle_signals=True):
        return
    queues = options.get("queues")
    text = f"Launching {processes} worker processes on " \
        f"{', '.join(queues) if queues else 'all queues'}"
    if _json_logs():
        logger.info(text, extra={"action": "launch_supervisor", "queues": queues,
                                 "processes": processes})
    else:
        print_stderr(text)
    code = await supervisor.Supervisor(
        processes,
        name=_worker_option(app, options, "name") or "worker",
        wait=_worker_option(app, options, "wait"),
        install_signal_handlers=_worker_option(app, options, "install_signal_handlers"),
    ).run()
    if code:
        sys.exit(code)


async def defer(
    app: procrastinate.App,
    task: str,
    json_args: str | None,
    ignore_already_enqueued: bool,
    unknown: bool,
    **configure_kwargs: Any,
) -> None:
    """Defer one job of ``task``."""
    expected = "Incorrect JSON_ARGS value expecting a valid json object (or dict)"
    try:
        args = (app.connector.json_loads or json.loads)("{}" if json_args is None else json_args)
    except Exception as exc:
        raise ValueError(f"{expected}: {exc}") from None
    if not isinstance(args, dict):
        raise ValueError(f"{expected}, got {type(args).__name__}")
    deferrer = app.configure_task(name=task, allow_unknown=unknown, **configure_kwargs)
    shown = ", ".join(f"{key}={value!r}" for key, value in args.items())
    print_stderr(f"Launching a job: {task}({shown})")
    try:
        await deferrer.defer_async(**args)
    except exceptions.AlreadyEnqueued as exc:
        if not ignore_already_enqueued:
            raise
        print_stderr(f"{exc} (ignored)")


async def healthchecks(app: procrastinate.App) -> None:
    """Check the database connection, and that the schema is there and is one
    a worker accepts (exit code 1 with the reason otherwise)."""
    installed = await app.check_connection_async()
    print("App configuration: OK\nDB connection: OK")
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
    """The administration shell; with a command, run it and exit. Exit code
    1 when a command failed (scripts can tell)."""
    admin = shell.ProcrastinateShell(job_manager=app.job_manager)
    if shell_command:
        await utils.sync_to_async(admin.onecmd, shlex.join(shell_command))
    else:
        await utils.sync_to_async(admin.cmdloop)
    if admin.failed:
        sys.exit(1)


async def dashboard_(app: procrastinate.App, host: str, port: int, token: str | None) -> None:
    """Serve the dashboard until SIGINT / SIGTERM (uvicorn handles them)."""
    try:
        import uvicorn

        from procrastinate import dashboard
    except ImportError as exc:
        raise RuntimeError(
            f"the dashboard needs its extra: pip install 'procrastinate-sqlcore[dashboard]' ({exc})"
        ) from None
    asgi_app = dashboard.app(app, token=token or None)
    mode = "read-only" if token is None else "actions need the token"
    print_stderr(f"Dashboard on http://{host}:{port}/ ({mode})")
    config = uvicorn.Config(asgi_app, host=host, port=port, log_level="info", lifespan="off")
    await uvicorn.Server(config).serve()


def main() -> None:
    try:
        asyncio.run(cli(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
