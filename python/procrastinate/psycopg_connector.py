"""PsycopgConnector: the asynchronous connector over psycopg 3's
``psycopg_pool.AsyncConnectionPool``, with LISTEN on a dedicated connection."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import psycopg.rows
import psycopg.sql
import psycopg_pool

from procrastinate import connector, sync_psycopg_connector, utils
from procrastinate._db import listen, ops, pooled, queries
from procrastinate._db.listen import Ready
from procrastinate.connector import Notify
from procrastinate.sync_psycopg_connector import (
    PsycopgAdapter,
    Steps,
    call,
    mark_returned,
    pool_arguments,
    pool_defaults,
    wrap_exceptions,
)

#: Longest wait between two attempts to reconnect, for the pool's
#: connections and the listening one: after an outage, service resumes at
#: most this long after the server is back (well within a worker's lease).
MAX_RECONNECT_DELAY = 1.0


class CappedBackoffPool(psycopg_pool.AsyncConnectionPool):
    """AsyncConnectionPool whose reconnection attempts are never more than
    MAX_RECONNECT_DELAY apart (psycopg_pool doubles the wait after each
    failure up to its reconnect_timeout, 5 minutes: after an 8 s outage the
    next attempt could come 7 s after the server was back), and that hands
    out the connection returned last (see LastUsedFirstPool)."""

    async def _get_ready_connection(self, timeout: float | None) -> Any:
        # (the pool's lock is held) the newest goes where the next is taken
        if len(self._pool) > 1:
            self._pool.rotate(1)
        return await super()._get_ready_connection(timeout)

    async def _add_connection(self, attempt: Any, growing: bool = False) -> None:
        # The pool doubles the delay after a failed attempt, then waits it:
        # held at half the cap, the wait never exceeds the cap.
        if attempt is not None and attempt.delay > MAX_RECONNECT_DELAY / 2:
            attempt.delay = MAX_RECONNECT_DELAY / 2
        await super()._add_connection(attempt, growing)


async def _resolve(value: Any) -> Any:
    """psycopg_pool accepts conninfo/kwargs as values or (async) callables."""
    if callable(value):
        value = value()
    if inspect.isawaitable(value):
        value = await value
    return value


class PsycopgConnector(PsycopgAdapter, pooled.AsyncPooled):
    """Asynchronous PostgreSQL connector over ``AsyncConnectionPool``.

    ``conninfo=`` (or its alias ``dsn=``) and any other keyword arguments go
    to ``pool_factory`` (default ``CappedBackoffPool``, an
    ``AsyncConnectionPool`` that retries a lost connection at least every
    MAX_RECONNECT_DELAY seconds); without conninfo,
    libpq's environment variables apply. Used from synchronous code before
    ``open_async``, it works through a SyncPsycopgConnector built from the
    same arguments (opened by ``App.open()``).
    """

    _pool_class = psycopg_pool.AsyncConnectionPool

    def __init__(
        self,
        *,
        json_dumps: Callable[[Any], Any] | None = None,
        json_loads: Callable[[Any], Any] | None = None,
        pool_factory: Callable[..., psycopg_pool.AsyncConnectionPool] = CappedBackoffPool,
        **kwargs: Any,
    ):
        self.json_dumps = json_dumps
        self.json_loads = json_loads
        self._pool_factory = pool_factory
        self._pool_args = pool_arguments(kwargs)

    # --- lifecycle -------------------------------------------------------------

    def _make_sync_connector(self) -> sync_psycopg_connector.SyncPsycopgConnector:
        return sync_psycopg_connector.SyncPsycopgConnector(
            json_dumps=self.json_dumps, json_loads=self.json_loads, **self._pool_args
        )

    async def _create_pool(self) -> psycopg_pool.AsyncConnectionPool:
        with wrap_exceptions():
            pool = self._pool_factory(**pool_defaults(self._pool_args), open=False)
            await pool.open(wait=True)
        return pool

    async def _close_pool(self, pool: psycopg_pool.AsyncConnectionPool) -> None:
        with wrap_exceptions():
            await pool.close()

    # --- queries -----------------------------------------------------------------

    def _drive(self, steps: Steps) -> Any:
        return ops.drive(steps, call)  # a coroutine

    async def _execute(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        return await self._drive(self._execute_steps(query, arguments, fetch))

    @contextlib.asynccontextmanager
    async def transaction_async(self) -> AsyncIterator[connector.ConnectionExecutor]:
        pool = self.pool
        with wrap_exceptions():
            connection = await self._drive(self._checkout_steps(pool))
            try:
                async with connection.transaction():
                    yield connector.ConnectionExecutor(self, connection)
            finally:
                mark_returned(connection)
                await pool.putconn(connection)

    # --- LISTEN / NOTIFY -------------------------------------------------------------

    async def side_connection_params(self) -> tuple[str, dict[str, Any]]:
        """The pool's conninfo and connection arguments, resolved, in
        autocommit mode (the pool's ``configure`` callback is not applied)."""
        pool = self.pool
        conninfo = await _resolve(pool.conninfo)
        kwargs = dict(await _resolve(pool.kwargs) or {})
        kwargs["autocommit"] = True
        return conninfo, kwargs

    async def _connect_standalone(self) -> psycopg.AsyncConnection:
        """A new autocommit connection outside the pool, with its settings."""
        conninfo, kwargs = await self.side_connection_params()
        connection = await self.pool.connection_class.connect(conninfo, **kwargs)
        configure = self._pool_args.get("configure")
        if configure is not None:
            await configure(connection)
        return connection

    _listen_errors = (psycopg.Error, OSError, asyncio.TimeoutError)
    _max_reconnect_delay = MAX_RECONNECT_DELAY

    async def _listen_session(self, notify: Notify, channels: list[str], ready: Ready) -> None:
        timeout = connector.LISTEN_TIMEOUT
        connection = await utils.wait_for(self._connect_standalone(), timeout)
        try:
            for channel in channels:
                statement = psycopg.sql.SQL(queries.LISTEN).format(
                    channel=psycopg.sql.Identifier(channel)
                )
                await utils.wait_for(connection.execute(statement), timeout)
            await ready()
            while True:
                # Returns after ``timeout`` seconds (psycopg >= 3.2), so that
                # a quiet connection gets checked (a half-open socket would
                # hang: hence the deadline on the keepalive).
                async for notification in connection.notifies(timeout=timeout):
                    await listen.deliver(notify, notification)
                await utils.wait_for(connection.execute(queries.KEEPALIVE), timeout)
        finally:
            with contextlib.suppress(Exception):
                # A close cancelled by a stopping worker ends in the background.
                await asyncio.shield(connection.close())


def async_twin(other: connector.BaseConnector, **pool_args: Any) -> PsycopgConnector | None:
    """A new PsycopgConnector (not open) on the database of ``other``, a
    psycopg 3 connector of either kind, with its JSON functions and its pool
    arguments overridden by ``pool_args``: for a loop of its own. None for
    any other connector."""
    if not isinstance(other, (PsycopgConnector, sync_psycopg_connector.SyncPsycopgConnector)):
        return None
    return PsycopgConnector(
        json_dumps=other.json_dumps,
        json_loads=other.json_loads,
        **{**other._pool_args, **pool_args},
    )
