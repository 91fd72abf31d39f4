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
from typing import Any, NamedTuple

from procrastinate import exceptions, signals, utils

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
    r"authentication failed|no password supplied|no pg_hba\.conf entry"
    r"|role \".*\" does not exist|database \".*\" does not exist|is not permitted to log in"
    r"|permission denied for database|invalid \w+ value|invalid port number"
    r"|invalid connection option|missing \"=\"|sslmode|ssl was required|does not support ssl"
    r"|certificate",
    re.IGNORECASE,
)


def is_refusal(error: BaseException) -> bool:
    """Whether a failed connection is one that waiting will not fix."""
    import psycopg

    # A ProgrammingError is a malformed conninfo.
    return isinstance(error, psycopg.ProgrammingError) or bool(_REFUSED.search(str(error)))


def message_of(error: BaseException) -> str:
    """The error's message on one line, without psycopg's prefix."""
    if isinstance(error, asyncio.TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT:.0f} s"
    text = " ".join(str(error).split())
    for prefix in ("connection failed: ", "connection is bad: "):
        text = text.removeprefix(prefix)
    return text or type(error).__name__


class Target(NamedTuple):
    """Where and how a PsycopgConnector's pool connects."""

    connection_class: Any
    conninfo: str
    kwargs: dict[str, Any]

    @property
    def where(self) -> str:
        """HOST:PORT as libpq will use them (conninfo, then PG* variables)."""
        import psycopg.conninfo

        try:
            params = psycopg.conninfo.conninfo_to_dict(self.conninfo, **self.kwargs)
        except psycopg.Error:
            params = {}
        env = os.environ.get
        host = (
            params.get("host") or params.get("hostaddr") or env("PGHOST") or env("PGHOSTADDR")
            or "the local socket"
        )
        return f"{host}:{params.get('port') or env('PGPORT') or '5432'}"

    async def attempt(self) -> str | None:
        """Open and close one connection: None when it worked, else why it
        failed; DatabaseConfigurationError when the database refuses us."""
        import psycopg

        try:
            connection = await utils.wait_for(
                self.connection_class.connect(self.conninfo, **self.kwargs), CONNECT_TIMEOUT
            )
        except (psycopg.Error, OSError, asyncio.TimeoutError) as exc:
            error: BaseException = exc
        else:
            with contextlib.suppress(Exception):
                await connection.close()
            return None
        # Raised outside the except block: the one-line error shows no context.
        if is_refusal(error):
            raise exceptions.DatabaseConfigurationError(
                f"The database at {self.where} refused the connection: {message_of(error)}"
            )
        return message_of(error)


async def target_of(connector: Any) -> Target | None:
    """The target of a PsycopgConnector whose pool is not open yet; None for
    any other connector (it is opened as it is, without a probe)."""
    try:
        from procrastinate import psycopg_connector
    except ImportError:  # pragma: no cover - psycopg 3 not installed
        return None
    if not isinstance(connector, psycopg_connector.PsycopgConnector) or connector._pool is not None:
        return None
    import psycopg

    arguments, resolve = connector._pool_args, psycopg_connector._resolve
    return Target(
        arguments.get("connection_class") or psycopg.AsyncConnection,
        await resolve(arguments.get("conninfo", "")) or "",
        dict(await resolve(arguments.get("kwargs")) or {}),
    )


async def check_reachable(connector: Any) -> None:
    """One attempt: DatabaseConfigurationError when the database refuses us,
    ConnectorException when it cannot be reached, None when it answers (or
    the connector is not one this module probes)."""
    target = await target_of(connector)
    error = target and await target.attempt()
    if target and error:
        raise exceptions.ConnectorException(
            f"The database at {target.where} is unreachable: {error}"
        )


async def wait_until_reachable(connector: Any, handle_signals: bool = False) -> bool:
    """Until the database answers: True then. DatabaseConfigurationError at
    once when it refuses us; while it cannot be reached, a warning every
    RETRY_INTERVAL seconds ("database unreachable at HOST:PORT: ...;
    waiting"). With ``handle_signals``, False when SIGINT or SIGTERM arrives
    meanwhile (as a worker would stop)."""
    target = await target_of(connector)
    if target is None:
        return True
    stop, attempts = asyncio.Event(), 0
    with signals.on_stop(stop.set, stop.set) if handle_signals else contextlib.nullcontext():
        while (error := await target.attempt()) is not None:
            attempts += 1
            logger.warning(
                f"database unreachable at {target.where}: {error}; waiting",
                extra={"action": "database_unreachable", "where": target.where,
                       "error": error, "attempts": attempts},
            )
            with contextlib.suppress(asyncio.TimeoutError):
                await utils.wait_for(stop.wait(), RETRY_INTERVAL)
            if stop.is_set():
                logger.info(
                    "Stop requested while waiting for the database: not starting",
                    extra={"action": "stop_waiting_for_database"},
                )
                return False
    if attempts:
        logger.warning(
            f"Database reachable at {target.where} after {attempts} failed attempt(s): starting",
            extra={"action": "database_reachable", "where": target.where},
        )
    return True
