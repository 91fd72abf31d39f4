"""Options of the ``procrastinate`` command: declared as tables, each with a
``PROCRASTINATE_...`` environment variable for its default."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, NoReturn

from procrastinate import jobs, utils

PROGRAM_NAME = "procrastinate"
LOG_LEVELS = ["debug", "info", "warning", "error", "critical"]
PARSER_OPTIONS: dict[str, Any] = {
    "allow_abbrev": False,
    "formatter_class": argparse.ArgumentDefaultsHelpFormatter,
}


def print_stderr(*args: Any) -> None:
    print(*args, file=sys.stderr)


class UsageError(Exception):
    """Bad command line input: reported in one line, exit code 2."""


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Flag(argparse.Action):
    """A boolean flag with its opposite: the last option string sets False,
    the others True (``-w --wait --one-shot``)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None):
        setattr(namespace, self.dest, option_string != self.option_strings[-1])


def env_value(raw: str, options: dict[str, Any]) -> Any:
    """An environment variable's value for the option declared with ``options``."""
    if options.get("action") is Flag:
        first = raw.strip().lower()[:1]
        if first not in ("1", "y", "t", "0", "n", "f"):
            raise ValueError(f"expected one of 0/n/f or 1/y/t, got {raw!r}")
        return first in ("1", "y", "t")
    if options.get("action") == "count":
        return int(raw)
    if "choices" in options:
        if (value := raw.strip().lower()) not in options["choices"]:
            raise ValueError(f"expected one of {', '.join(options['choices'])}, got {raw!r}")
        return value
    return options.get("type", str)(raw)


Option = tuple[str, str, dict[str, Any]]


def add_options(container: Any, env: str | None, *options: Option) -> None:
    """Add options, each ("-s --long", help, add_argument keywords). With ``env``,
    the default comes from PROCRASTINATE_<env><LONG> when it is set and not empty."""
    for names, text, kwargs in options:
        split = names.split()
        if env is not None:
            long = next((name for name in split if name.startswith("--")), split[0])
            variable = f"{PROGRAM_NAME.upper()}_{env}{long.lstrip('-').replace('-', '_').upper()}"
            if raw := os.environ.get(variable, ""):
                try:
                    kwargs = {**kwargs, "default": env_value(raw, kwargs)}
                except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
                    raise UsageError(f"invalid value in {variable}: {exc}") from exc
            text = f"{text} (env: {variable})"
        container.add_argument(*split, help=text, **kwargs)


def cast_queues(value: str) -> list[str] | None:
    return [queue for queue in map(str.strip, value.split(",")) if queue] or None


def checked(parse: Any, message: str = "{error}") -> Any:
    """An argparse type: ``parse``, its ValueError shown as ``message``."""

    def convert(value: str) -> Any:
        try:
            return parse(value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(message.format(error=error, value=value)) from None

    return convert


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise ValueError(f"must be at least 1, got {number}")
    return number


FLAG: dict[str, Any] = {"action": Flag}
WORKER_OPTIONS: list[Option] = [
    ("-n --name", "Name of the worker", {}),
    ("-q --queues", "Comma-separated queues to take jobs from (empty: all queues)",
     {"type": cast_queues}),
    ("-c --concurrency", "How many jobs to run at once", {"type": int}),
    ("--processes", "Worker processes to run, each with its own connections, lease and "
     "--concurrency; above 1, this process supervises them (docs/deploy.md)",
     {"type": checked(positive_int, "{error}")}),
    ("--prefetch", "Jobs to claim ahead of free slots while jobs are short "
     "(default: 10 per slot, at most 100; 0: never)", {"type": int}),
    ("-p --fetch-job-polling-interval",
     "Seconds between looks for jobs when no notification comes", {"type": float}),
    ("-a --abort-job-polling-interval", "Seconds between checks for abort requests",
     {"type": float}),
    ("--shutdown-graceful-timeout",
     "Seconds running jobs get to finish when stopping, before they are aborted", {"type": float}),
    ("-w --wait --one-shot",
     "Wait for new jobs (--wait) or stop once no job is left (--one-shot)", FLAG),
    ("-l --listen-notify --no-listen-notify", "Be woken by notifications, or only poll", FLAG),
    ("--delete-jobs", "Which finished jobs to delete",
     {"choices": [condition.value for condition in jobs.DeleteJobCondition]}),
    ("--metrics-port", "Serve Prometheus metrics on this port, at /metrics (needs the "
     "metrics extra: pip install 'procrastinate-sqlcore[metrics]')", {"type": int}),
    ("--metrics-host", "Address the metrics are served on (default: all, 0.0.0.0)", {}),
]
DEFER_OPTIONS: list[Option] = [
    ("json_args", "JSON object with the task's keyword arguments", {"nargs": "?", "default": None}),
    ("--queue", "Queue of the job (default: the task's queue)", {}),
    ("--lock", "Jobs sharing a lock never run at the same time", {}),
    ("--queueing-lock", "Refuse the job if one with this queueing lock is already waiting", {}),
    ("-i --ignore-already-enqueued --no-ignore-already-enqueued",
     "Exit with code 0 when the queueing lock is taken (the error is shown)",
     {**FLAG, "default": False}),
    ("--priority", "Priority of the job, higher runs first (default 0)", {"type": int}),
    ("--debounce", "Seconds; needs --queueing-lock: the job waiting with that lock gets "
     "these args and starts this long from now (docs/flow-control.md)", {"type": float}),
    ("--throttle", "Seconds; needs --queueing-lock: at most one job per lock per period, "
     "a defer within it creates nothing", {"type": float}),
    ("--unknown --no-unknown", "Allow a task name the app does not know",
     {**FLAG, "default": False}),
]
DEFER_WHEN: list[Option] = [  # mutually exclusive
    ("--at", "Run the job at or after this ISO 8601 date and time",
     {"dest": "schedule_at",
      "type": checked(utils.parse_datetime, "not an ISO 8601 date and time: {value!r}")}),
    ("--in", "Run the job after this many seconds (or a duration such as 1h30m)",
     {"dest": "schedule_in", "type": checked(utils.parse_timedelta_params)}),
]
DASHBOARD_OPTIONS: list[Option] = [
    ("--host", "Address to listen on", {"default": "127.0.0.1"}),
    ("--port", "Port to listen on", {"type": int, "default": 8000}),
    # a flag on the command line would show in `ps`: prefer the variable
    ("--token", "Credential for actions (retry, cancel, pause...); without it the dashboard "
     "is read-only. Prefer the environment variable, which ps does not show", {"default": None}),
]
APP_OPTION: Option = ("-a --app", "Dotted path to the Procrastinate app", {"default": ""})
VERBOSITY_OPTIONS: list[Option] = [  # mutually exclusive
    ("-v --verbose", "Use multiple times to increase verbosity", {"action": "count", "default": 0}),
    ("--log-level", "Set the log level explicitly", {"choices": LOG_LEVELS}),
]
LOG_FORMAT_OPTIONS: list[Option] = [
    ("--log-format", "Format of the log lines (logging.Formatter syntax), or json: one JSON "
     "object per line (job id, task, queue, status, duration, message)",
     {"default": logging.BASIC_FORMAT}),
    ("--log-format-style", "Style of --log-format", {"default": "%", "choices": ["%", "{", "$"]}),
]
