"""A private PostgreSQL server for users' tests (procrastinate.testing).

When no server is named (libpq's PGHOST, PGPORT, PGSERVICE or PGDATABASE
unset), ``server_conninfo()`` starts one for the process: ``initdb`` in a
temporary folder, reached through a Unix socket in that folder only (no TCP
port to collide with), durability off (the data is thrown away), stopped
and removed when the process exits. The server programs are PostgreSQL's
own: on PATH, from ``pg_config --bindir``, or Debian's
``/usr/lib/postgresql/<major>/bin`` (the newest). As root, they run as the
``postgres`` system user, since initdb refuses root.
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import shutil
import subprocess
import tempfile
import threading

#: libpq variables that name a server: when one is set, it is used.
SERVER_VARIABLES = ("PGHOST", "PGPORT", "PGSERVICE", "PGDATABASE", "PGHOSTADDR")

_lock = threading.Lock()
_started: str | None = None


class NoPostgreSQL(RuntimeError):
    """Neither a server named by libpq's environment nor PostgreSQL's server
    programs to start one."""


def _debian_bindirs() -> list[str]:
    def major(path: str) -> tuple[int, ...]:
        found = re.search(r"/postgresql/([\d.]+)/bin", path)
        return tuple(int(part) for part in found.group(1).split(".")) if found else ()

    return sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True)


def _pg_config_bindir() -> list[str]:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return []
    result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
    return [result.stdout.strip()] if result.returncode == 0 else []


def bindir(candidates: list[str] | None = None) -> str:
    """The folder of ``initdb`` and ``pg_ctl``; NoPostgreSQL naming what to
    install when there is none."""
    if candidates is None:
        on_path = shutil.which("initdb")
        candidates = [os.path.dirname(on_path)] if on_path else []
        candidates += _pg_config_bindir() + _debian_bindirs()
    for folder in candidates:
        if all(os.access(os.path.join(folder, name), os.X_OK) for name in ("initdb", "pg_ctl")):
            return folder
    raise NoPostgreSQL(
        "procrastinate.testing needs a PostgreSQL server: none is named by libpq's "
        "environment (PGHOST, PGPORT, PGUSER...) and PostgreSQL's server programs "
        "(initdb, pg_ctl) were not found on PATH, by pg_config or under "
        "/usr/lib/postgresql/*/bin. Install the PostgreSQL server (Debian and Ubuntu: "
        "apt install postgresql; macOS: brew install postgresql), or set PGHOST, PGPORT "
        "and PGUSER to a server where this user may create databases."
    )


def _as_owner(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: as root, run as postgres."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        raise NoPostgreSQL("running as root, procrastinate.testing needs runuser to start "
                           "PostgreSQL as the postgres user")
    return [runuser, "-u", "postgres", "--", *command]


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(_as_owner(command), capture_output=True, text=True, cwd="/")
    if result.returncode != 0:
        raise NoPostgreSQL(f"{what} failed ({' '.join(command)}):\n{result.stdout}{result.stderr}")


def start() -> str:
    """Start a private server; returns its conninfo (superuser postgres)."""
    programs = bindir()
    base = tempfile.mkdtemp(prefix="procrastinate-testing-pg-")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data = os.path.join(base, "data")
    _run(
        [os.path.join(programs, "initdb"), "--pgdata", data, "--username", "postgres",
         "--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync",
         "--no-instructions"],
        "initdb",
    )
    settings = (
        f"-c listen_addresses='' -c unix_socket_directories='{base}' -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    pg_ctl = os.path.join(programs, "pg_ctl")
    _run(
        [pg_ctl, "start", "--pgdata", data, "--wait", "--silent", "--log",
         os.path.join(base, "server.log"), "-o", settings],
        "starting PostgreSQL",
    )

    def stop() -> None:
        subprocess.run(
            _as_owner([pg_ctl, "stop", "--pgdata", data, "--mode", "immediate", "--silent"]),
            capture_output=True, cwd="/",
        )
        shutil.rmtree(base, ignore_errors=True)

    atexit.register(stop)
    return f"host={base} user=postgres"


def server_conninfo() -> str:
    """The server of the tests: "" (libpq's environment) when it names one,
    else the private server of this process, started on first use."""
    global _started
    if any(os.environ.get(name) for name in SERVER_VARIABLES):
        return ""
    with _lock:
        if _started is None:
            _started = start()
        return _started
