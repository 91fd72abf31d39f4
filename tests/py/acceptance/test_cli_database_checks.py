"""What the ``procrastinate`` command does before it runs (issue 14, items 5
and 7), as a subprocess against the real server:

- ``healthchecks`` checks what a worker checks (schema version, 3.x
  conversion) and exits non-zero, with the reason, when a worker would refuse
  the database;
- a database that refuses the connection (unknown database or role, bad
  sslmode) ends the command at once with PostgreSQL's (or libpq's) message;
- a database that cannot be reached makes ``procrastinate worker`` wait,
  logging a line at each attempt, stop cleanly on SIGTERM, and start once the
  database answers.

The test server trusts every local connection (scripts/pg-common.sh runs
initdb with --auth=trust), so a wrong password cannot be tried here: the
unknown role (SQLSTATE 28000) and the unknown database (3D000) stand for the
refusals; the password message goes through the same path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from acceptance_helpers import wait_until

WAITING_LINE = "database unreachable at 127.0.0.1:{port}: "


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- healthchecks: what the worker checks -------------------------------------------


def drop_last_pre_migration(db: psycopg.Connection) -> None:
    """The database lacks the newest pre migration this code ships."""
    db.execute(
        "delete from procrastinate_migrations where number = "
        "(select max(number) from procrastinate_migrations where phase = 'pre')"
    )


def forget_migrations(db: psycopg.Connection) -> None:
    """What the worker sees of a procrastinate 3.x database not yet converted:
    procrastinate_jobs without procrastinate_migrations (a stand-in for a
    real 3.10 schema, which tests/py/migrations builds from PyPI)."""
    db.execute("drop table procrastinate_migrations cascade")


@pytest.mark.parametrize(
    "spoil, reason",
    [
        (drop_last_pre_migration, "the database schema is older than this code"),
        (forget_migrations, "the database has procrastinate 3.x's schema"),
    ],
    ids=["outdated", "unconverted_3x"],
)
def test_healthchecks_fail_where_the_worker_refuses(run_cli, db, spoil, reason):
    spoil(db)

    checks = run_cli("healthchecks")
    worker = run_cli("worker", "--one-shot")

    assert checks.returncode == 1, checks.stdout
    assert reason in checks.stderr
    assert "Schema version: OK" not in checks.stdout
    # The same database, the same verdict, the same reason.
    assert worker.returncode == 1, worker.stderr
    assert reason in worker.stderr


def test_healthchecks_pass_where_the_worker_starts(run_cli):
    checks = run_cli("healthchecks")
    worker = run_cli("worker", "--one-shot")

    assert checks.returncode == 0, checks.stderr
    assert checks.stdout.splitlines()[-1] == "Schema version: OK"
    assert worker.returncode == 0, worker.stderr


# --- refusals fail fast with PostgreSQL's message -----------------------------------


@pytest.mark.parametrize("command", [["worker"], ["defer", "sum_task", "{}"], ["healthchecks"]])
@pytest.mark.parametrize(
    "env, message",
    [
        ({"PGDATABASE": "pt_no_such_database"}, 'database "pt_no_such_database" does not exist'),
        ({"PGUSER": "pt_no_such_role"}, 'role "pt_no_such_role" does not exist'),
        ({"PGSSLMODE": "bogus"}, 'invalid sslmode value: "bogus"'),
    ],
    ids=["unknown_database", "unknown_role", "bad_sslmode"],
)
def test_a_refused_connection_fails_at_once_with_the_message(run_cli, command, env, message):
    started = time.monotonic()
    result = run_cli(*command, env=env, timeout=20)
    elapsed = time.monotonic() - started

    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    assert "refused the connection" in result.stderr
    assert "pool initialization incomplete" not in result.stderr
    assert "unreachable" not in result.stderr
    assert elapsed < 10  # not the pool's 30 s


def test_ssl_required_from_a_server_without_ssl_fails_at_once(run_cli, db):
    if db.execute("show ssl").fetchone()["ssl"] == "on":
        pytest.skip("the test server offers SSL")
    result = run_cli("worker", env={"PGSSLMODE": "require"}, timeout=20)
    assert result.returncode == 1, result.stderr
    assert "server does not support SSL, but SSL was required" in result.stderr


def test_other_commands_report_an_unreachable_database_at_once(run_cli):
    port = free_port()
    result = run_cli("defer", "sum_task", "{}", env={"PGPORT": str(port)}, timeout=20)
    assert result.returncode == 1
    assert f"The database at 127.0.0.1:{port} is unreachable" in result.stderr
    assert "Connection refused" in result.stderr


# --- an unreachable database: the worker waits ------------------------------------------


def test_the_worker_waits_for_an_unreachable_database_and_stops_on_sigterm(background):
    port = free_port()  # nothing listens there
    worker = background("worker", env={"PGPORT": str(port)})

    wait_until(lambda: WAITING_LINE.format(port=port) in worker.output, what="waiting line")
    assert "Connection refused" in worker.output
    assert worker.process.poll() is None  # waiting, not exited

    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    assert "Stop requested while waiting for the database" in worker.output
    assert "Traceback" not in worker.output


class Forwarder:
    """A TCP port that forwards to the test server once started: the
    database "comes up" at that port."""

    def __init__(self, port: int, target: tuple[str, int]):
        self.port, self.target = port, target
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sockets: list[socket.socket] = [self.listener]

    def start(self) -> None:
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


@pytest.fixture
def forwarder() -> Iterator[Forwarder]:
    target = (os.environ.get("PGHOST") or "127.0.0.1", int(os.environ.get("PGPORT") or 5432))
    if target[0].startswith("/"):
        pytest.skip("the test server is reached through a unix socket")
    forwarding = Forwarder(free_port(), target)
    yield forwarding
    forwarding.close()


def test_the_worker_starts_once_the_database_answers(background, forwarder, db):
    (job_id,) = db.execute(
        "select procrastinate_defer_job('sum_task', '{\"a\": 1, \"b\": 2}') as id"
    ).fetchone().values()
    worker = background("worker", env={"PGPORT": str(forwarder.port)})
    wait_until(
        lambda: WAITING_LINE.format(port=forwarder.port) in worker.output, what="waiting line"
    )

    forwarder.start()  # the database comes up

    def status() -> str:
        return db.execute(
            "select status::text as status from procrastinate_jobs where id = %s", [job_id]
        ).fetchone()["status"]

    wait_until(lambda: status() == "succeeded", timeout=30, what="the job to run")
    assert f"Database reachable at 127.0.0.1:{forwarder.port}" in worker.output
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0


def test_the_password_refusal_is_told_from_an_outage():
    # The wrong password cannot be produced on the trusting test server (see
    # the module docstring): its message, as libpq words it, is classified
    # here, next to messages of a server that is down or starting.
    from procrastinate import database_probe

    def refusal(message: str) -> bool:
        return database_probe.is_refusal(psycopg.OperationalError(message))

    assert refusal(
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        'FATAL:  password authentication failed for user "app"'
    )
    assert refusal(
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        'FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "app", database "db", no '
        "encryption"
    )
    assert not refusal(
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
        "connections?"
    )
    assert not refusal(
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        "FATAL:  the database system is starting up"
    )
