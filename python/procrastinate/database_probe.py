"""Before a command opens its connector's pool: one plain connection with
the pool's settings, to tell a database that refuses us from one that is
merely down.

A refusal (wrong password, unknown role or database, no pg_hba.conf entry,
SSL settings the server or libpq rejects) is not fixed by waiting: it ends
the command at once with PostgreSQL's (or libpq's) own message, instead of
30 seconds of pool warnings and "pool initialization incomplete". A server
that is down or unreachable (connection refused, timeout, starting up) makes
a worker wait, with a log line at each attempt, and start once it answers;
other commands report it at once.

psycopg gives no SQLSTATE for a failed connection, so the refusals are told
by the text of the message (PostgreSQL's English messages; a server speaking
another language makes a worker wait and log the message instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from typing import Any

from procrastinate import exceptions, utils

logger = logging.getLogger(__name__)

#: Seconds between two connection attempts while the database is unreachable.
RETRY_INTERVAL = 5.0
#: Longest wait for one connection attempt (seconds).
CONNECT_TIMEOUT = 10.0

# Refusals: 28P01 invalid_password, 28000 invalid_authorization_specification
# (unknown role, no pg_hba.conf entry, login not allowed, ident/peer/cert
# failures), 3D000 invalid_catalog_name, 42501 (no CONNECT right), and what
# libpq itself rejects in the settings (sslmode, SSL required by the client
# and not offered by the server, certificates, malformed options).
_REFUSED = re.compile(
    r"authentication failed"
    r"|no password supplied"
    r"|no pg_hba\.conf entry"
    r"|role \".*\" does not exist"
    r"|database \".*\" does not exist"
    r"|is not permitted to log in"
    r"|permission denied for database"
    r"|invalid \w+ value"
    r"|invalid port number"
    r"|invalid connection option"
    r"|missing \"=\""
    r"|sslmode"
    r"|ssl was required"
    r"|does not support ssl"
    r"|certificate",
    re.IGNORECASE,
)


def is_refusal(error: BaseException) -> bool:
    """Whether a failed connection is one that waiting will not fix."""
    import psycopg

    if isinstance(error, psycopg.ProgrammingError):  # a malformed conninfo
        return True
    return bool(_REFUSED.search(str(error)))


def message_of(error: BaseException) -> str:
    """The error's message on one line, without psycopg's prefix."""
    if isinstance(error, asyncio.TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT:.0f} s"
    text = " ".join(str(error).split())
    for prefix in ("connection failed: ", "connection is bad: "):
        text = text.removeprefix(prefix)
    return text or type(error).__name__


async def _resolve(value: Any) -> Any:
    """psycopg_pool accepts conninfo and kwargs as values or (async) callables."""
    if callable(value):
        value = value()
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        value = await value
    return value


class Target:
    """Where and how a PsycopgConnector's pool connects."""

    def __init__(self, connection_class: Any, conninfo: str, kwargs: dict[str, Any]):
        self.connection_class = connection_class
        self.conninfo = conninfo
        self.kwargs = kwargs

    @property
    def where(self) -> str:
        """HOST:PORT as libpq will use them (conninfo, then PG* variables)."""
        import psycopg.conninfo

        try:
            params = psycopg.conninfo.conninfo_to_dict(self.conninfo, **self.kwargs)
        except psycopg.Error:
            params = {}
        host = (
            params.get("host")
            or params.get("hostaddr")
            or os.environ.get("PGHOST")
            or os.environ.get("PGHOSTADDR")
            or "the local socket"
        )
        port = params.get("port") or os.environ.get("PGPORT") or "5432"
        return f"{host}:{port}"

    async def connect_once(self) -> BaseException | None:
        """Open and close one connection: None when it worked, else the error."""
        import psycopg

        try:
            connection = await utils.wait_for(
                self.connection_class.connect(self.conninfo, **self.kwargs),
                CONNECT_TIMEOUT,
            )
        except (psycopg.Error, OSError, asyncio.TimeoutError) as exc:
            return exc
        with contextlib.suppress(Exception):
            await connection.close()
        return None


async def target_of(connector: Any) -> Target | None:
    """The target of a PsycopgConnector whose pool is not open yet; None for
    any other connector (it is opened as it is, without a probe)."""
    try:
        from procrastinate import psycopg_connector
    except ImportError:  # pragma: no cover - psycopg 3 not installed
        return None
    if not isinstance(connector, psycopg_connector.PsycopgConnector):
        return None
    if connector._pool is not None:
        return None
    import psycopg

    arguments = connector._pool_args
    conninfo = await _resolve(arguments.get("conninfo", "")) or ""
    kwargs = dict(await _resolve(arguments.get("kwargs")) or {})
    connection_class = arguments.get("connection_class") or psycopg.AsyncConnection
    return Target(connection_class, conninfo, kwargs)


def refused(target: Target, error: BaseException) -> exceptions.DatabaseConfigurationError:
    return exceptions.DatabaseConfigurationError(
        f"The database at {target.where} refused the connection: {message_of(error)}"
    )


async def raise_if_refused(connection_class: Any, conninfo: str, kwargs: dict[str, Any]) -> None:
    """One connection attempt with these settings: DatabaseConfigurationError
    when the database refuses it; nothing otherwise (reachable or not: a
    pool about to open deals with that)."""
    target = Target(connection_class, conninfo, kwargs)
    error = await target.connect_once()
    if error is not None and is_refusal(error):
        raise refused(target, error) from None


async def check_reachable(connector: Any) -> None:
    """One attempt: DatabaseConfigurationError when the database refuses us,
    ConnectorException when it cannot be reached, None when it answers (or
    the connector is not one this module probes)."""
    target = await target_of(connector)
    if target is None:
        return
    error = await target.connect_once()
    if error is None:
        return
    if is_refusal(error):
        raise refused(target, error) from None
    raise exceptions.ConnectorException(
        f"The database at {target.where} is unreachable: {message_of(error)}"
    ) from None


async def wait_until_reachable(
    connector: Any,
    stop: asyncio.Event | None = None,
    interval: float = RETRY_INTERVAL,
    handle_signals: bool = False,
) -> bool:
    """Until the database answers: True then. DatabaseConfigurationError at
    once when it refuses us; while it cannot be reached, a warning every
    ``interval`` seconds ("database unreachable at HOST:PORT: ...;
    waiting"). False when ``stop`` is set meanwhile, or with
    ``handle_signals`` when SIGINT or SIGTERM arrives (as a worker would
    stop)."""
    target = await target_of(connector)
    if target is None:
        return True
    if handle_signals:
        from procrastinate import signals

        stop = stop or asyncio.Event()
        with signals.on_stop(stop.set, stop.set):
            reached = await _wait(target, stop, interval)
    else:
        reached = await _wait(target, stop, interval)
    if not reached:
        logger.info(
            "Stop requested while waiting for the database: not starting",
            extra={"action": "stop_waiting_for_database"},
        )
    return reached


async def _wait(target: Target, stop: asyncio.Event | None, interval: float) -> bool:
    attempts = 0
    while True:
        error = await target.connect_once()
        if error is None:
            if attempts:
                logger.warning(
                    f"Database reachable at {target.where} after {attempts} failed "
                    "attempt(s): starting",
                    extra={"action": "database_reachable", "where": target.where},
                )
            return True
        if is_refusal(error):
            raise refused(target, error) from None
        attempts += 1
        logger.warning(
            f"database unreachable at {target.where}: {message_of(error)}; waiting",
            extra={
                "action": "database_unreachable",
                "where": target.where,
                "error": message_of(error),
                "attempts": attempts,
            },
        )
        if stop is None:
            await asyncio.sleep(interval)
            continue
        with contextlib.suppress(asyncio.TimeoutError):
            await utils.wait_for(stop.wait(), interval)
        if stop.is_set():
            return False
