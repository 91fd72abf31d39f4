"""The private cluster of scripts/with-private-pg.sh, driven from a test:
crash it (immediate stop), start it again, and build, promote and remove a
streaming standby of it.

Server commands run as the cluster's owner (the ``postgres`` system user
when we are root: initdb and postgres refuse root), from / so that a
working directory that user cannot read does no harm.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess

import pytest


def private_dir() -> pathlib.Path:
    """The private cluster's folder; skips the test on an external server."""
    if not os.environ.get("PRIVATE_PG_DIR"):
        pytest.skip("needs the private cluster of scripts/with-private-pg.sh "
                    "(PRIVATE_PG_DIR unset)")
    return pathlib.Path(os.environ["PRIVATE_PG_DIR"])


def bindir() -> str:
    if os.environ.get("PRIVATE_PG_BINDIR"):
        return os.environ["PRIVATE_PG_BINDIR"]
    versions = sorted(
        (d for d in os.listdir("/usr/lib/postgresql")
         if os.path.exists(f"/usr/lib/postgresql/{d}/bin/pg_ctl")),
        key=lambda v: [int(p) for p in v.split(".") if p.isdigit()],
    )
    return f"/usr/lib/postgresql/{versions[-1]}/bin"


def as_owner(*command: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    full = [f"{bindir()}/{command[0]}", *command[1:]]
    if os.geteuid() == 0:
        full = ["runuser", "-u", "postgres", "--", *full]
    return subprocess.run(
        full, check=check, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=timeout,
    )


def restart() -> None:
    """Restart the private cluster (fast shutdown: clients are cut off),
    returning once it accepts connections again. Its output goes to the
    cluster's log, never to a pipe the started server would hold open."""
    command = [
        f"{bindir()}/pg_ctl", "restart", "-D", str(private_dir() / "data"), "-m", "fast",
        "-w", "-t", "30", "-l", os.environ["PRIVATE_PG_LOG"],
    ]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, cwd="/", stdout=subprocess.DEVNULL)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """One data folder: the private primary, or a standby of it."""

    def __init__(self, data: pathlib.Path, port: int, log: pathlib.Path, options: str = ""):
        self.data = data
        self.port = port
        self.log = log
        self.options = options  # extra postgres options (a standby's own port)

    @classmethod
    def primary(cls) -> Cluster:
        base = private_dir()
        log = pathlib.Path(os.environ["PRIVATE_PG_LOG"])
        return cls(base / "data", int(os.environ["PGPORT"]), log)

    def crash(self) -> None:
        """Immediate stop: every backend gets SIGQUIT, nothing is flushed
        or checkpointed; the next start runs crash recovery."""
        as_owner("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30")

    def start(self) -> None:
        command = ["pg_ctl", "start", "-D", str(self.data), "-w", "-t", "60", "-l", str(self.log)]
        if self.options:
            command += ["-o", self.options]
        as_owner(*command)

    def running(self) -> bool:
        return as_owner("pg_ctl", "status", "-D", str(self.data), check=False).returncode == 0

    def promote(self) -> None:
        as_owner("pg_ctl", "promote", "-D", str(self.data), "-w", "-t", "30")


def create_standby(primary_dsn_port: int) -> Cluster:
    """A streaming standby of the private cluster (pg_basebackup -R), on a
    free port of its own, started; its folder lives in the private one."""
    base = private_dir()
    port = free_port()
    data = base / f"standby-{port}"
    as_owner(
        "pg_basebackup", "-D", str(data), "-R", "-X", "stream", "-c", "fast",
        "-h", "127.0.0.1", "-p", str(primary_dsn_port), "-U", "postgres", "--no-sync",
        timeout=120,
    )
    standby = Cluster(data, port, base / f"standby-{port}.log", options=f"-p {port}")
    try:
        standby.start()
    except BaseException:
        remove_standby(standby)
        raise
    return standby


def remove_standby(standby: Cluster) -> None:
    if standby.running():
        as_owner("pg_ctl", "stop", "-D", str(standby.data), "-m", "immediate", "-w", "-t", "30",
                 check=False)
    shutil.rmtree(standby.data, ignore_errors=True)
