"""PsycopgConnector: the asynchronous connector over psycopg 3's
``psycopg_pool.AsyncConnectionPool``, with LISTEN on a dedicated connection."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import psycopg
import psycopg.rows
import psycopg.sql
import psycopg_pool

from procrastinate import connector, exceptions, sync_psycopg_connector, utils
from procrastinate._db import queries
from procrastinate.sync_psycopg_connector import (
    CHECKOUT_TRIES,
    PsycopgAdapter,
    in_transaction,
    mark_returned,
    needs_check,
    no_result,
    pool_arguments,
    pool_defaults,
    retry_on_fresh_connection,
    wrap_exceptions,
)

logger = logging.getLogger(__name__)

#: Longest wait between two attempts to reconnect, for the pool's
#: connections and the listening one: after an outage, service resumes at
#: most this long after the server is back (well within a worker's lease).
MAX_RECONNECT_DELAY = 1.0


class CappedBackoffPool(psycopg_pool.AsyncConnectionPool):
    """AsyncConnectionPool whose reconnection attempts are never more than
    MAX_RECONNECT_DELAY apart (psycopg_pool doubles the wait after each
    failure up to its reconnect_timeout, 5 minutes: after an 8 s outage the
    next attempt could come 7 s after the server was back)."""

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


class PsycopgConnector(PsycopgAdapter, connector.BaseAsyncConnector):
    """Asynchronous PostgreSQL connector over ``AsyncConnectionPool``.

    ``conninfo=`` (or its alias ``dsn=``) and any other keyword arguments go
    to ``pool_factory`` (default ``CappedBackoffPool``, an
    ``AsyncConnectionPool`` that retries a lost connection at least every
    MAX_RECONNECT_DELAY seconds); without conninfo,
    libpq's environment variables apply. Used from synchronous code before
    ``open_async``, it works through a SyncPsycopgConnector built from the
    same arguments (opened by ``App.open()``).
    """

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
        self._pool: psycopg_pool.AsyncConnectionPool | None = None
        self._pool_externally_set = False
        self._sync_connector: sync_psycopg_connector.SyncPsycopgConnector | None = None

    # --- lifecycle -------------------------------------------------------------

    def get_connector(self) -> PsycopgConnector:
        return self

    def get_sync_connector(self) -> connector.BaseConnector:
        if self._pool is not None:
            return self
        if self._sync_connector is None:
            self._sync_connector = sync_psycopg_connector.SyncPsycopgConnector(
                json_dumps=self.json_dumps,
                json_loads=self.json_loads,
                **self._pool_args,
            )
        return self._sync_connector

    def open(self, pool: Any = None) -> None:
        """Open for synchronous use (the SyncPsycopgConnector fallback)."""
        if self._pool is None:
            self.get_sync_connector().open(pool)

    def close(self) -> None:
        if self._sync_connector is not None:
            self._sync_connector.close()
            self._sync_connector = None

    @property
    def pool(self) -> psycopg_pool.AsyncConnectionPool:
        if self._pool is None:
            raise exceptions.AppNotOpen
        return self._pool

    async def open_async(
        self, pool: psycopg_pool.AsyncConnectionPool | None = None
    ) -> None:
        """Create and open the pool, or use ``pool`` (left open on close)."""
        if self._pool is not None:
            return
        if self._sync_connector is not None:
            await asyncio.to_thread(self._sync_connector.close)
            self._sync_connector = None
        if pool is not None:
            self._pool, self._pool_externally_set = pool, True
        else:
            # No check by the pool itself: _checkout checks (see there why).
            arguments = pool_defaults(self._pool_args, None)
            with wrap_exceptions():
                new_pool = self._pool_factory(**arguments, open=False)
                await new_pool.open(wait=True)
            self._pool, self._pool_externally_set = new_pool, False
        self._bind_loop()

    async def close_async(self) -> None:
        """Close the pool (unless it was given to open_async)."""
        pool, self._pool = self._pool, None
        self._unbind_loop()
        if pool is not None and not self._pool_externally_set:
            with wrap_exceptions():
                await pool.close()

    # --- queries -----------------------------------------------------------------

    async def _run(
        self,
        connection: psycopg.AsyncConnection,
        query: str,
        arguments: dict[str, Any],
        fetch: str,
    ) -> Any:
        with wrap_exceptions():
            async with connection.cursor(row_factory=psycopg.rows.dict_row) as cursor:
                self._configure_cursor(cursor)
                await cursor.execute(query, self._parameters(arguments))  # type: ignore[arg-type]
                if fetch == "none" or cursor.description is None:
                    return no_result(fetch)
                if fetch == "one":
                    return await cursor.fetchone()
                return await cursor.fetchall()

    async def _execute(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        pool = self.pool
        retry = False
        while True:
            try:
                connection = await self._checkout(pool)
            except psycopg.Error as exc:
                raise exceptions.from_database_error(exc) from exc
            try:
                result = await self._run(connection, query, arguments, fetch)
                if not connection.autocommit:  # a pool given by the user
                    with wrap_exceptions():
                        await connection.commit()
                return result
            except exceptions.ConnectorException as exc:
                # A read whose connection was found dead (closed while idle
                # in the pool) runs once more, on a fresh connection.
                if retry or not retry_on_fresh_connection(query, exc, connection):
                    raise
                retry = True
                # Its idle siblings likely died with it (server restart):
                # the pool checks them all and replaces the dead ones.
                with contextlib.suppress(psycopg.Error):
                    await pool.check()
            finally:
                if not connection.autocommit and in_transaction(connection):
                    with contextlib.suppress(psycopg.Error):
                        await connection.rollback()
                mark_returned(connection)
                await pool.putconn(connection)

    @staticmethod
    async def _checkout(pool: psycopg_pool.AsyncConnectionPool) -> psycopg.AsyncConnection:
        """A connection from the pool, checked first when it was idle long
        enough to have been dropped (busy ones are used as they come). A
        broken one goes back, the pool replaces it, and the next is taken at
        once: the pool's own check would wait longer after each broken
        connection (1, 2, 4... s), which a server dropping connections in a
        row turns into a stall of the pool's whole timeout."""
        for _ in range(CHECKOUT_TRIES):
            connection = await pool.getconn()
            if not needs_check(connection):
                return connection
            try:
                await psycopg_pool.AsyncConnectionPool.check_connection(connection)
            except psycopg.Error:
                await pool.putconn(connection)
                continue
            return connection
        return await pool.getconn()  # the query tells, if this one is dead too

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        return await self._execute(query, arguments, "none")

    async def execute_query_one_async(
        self, query: str, **arguments: Any
    ) -> dict[str, Any] | None:
        return await self._execute(query, arguments, "one")

    async def execute_query_all_async(
        self, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        return await self._execute(query, arguments, "all")

    @contextlib.asynccontextmanager
    async def transaction_async(self) -> AsyncIterator[connector.AsyncConnectionExecutor]:
        pool = self.pool
        with wrap_exceptions():
            connection = await self._checkout(pool)
            try:
                async with connection.transaction():
                    yield connector.AsyncConnectionExecutor(self, connection)
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

    async def listen_notify(
        self,
        on_notification: connector.Notify,
        channels: Iterable[str],
        *,
        on_listening: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        """LISTEN to ``channels`` on a dedicated connection and await
        ``on_notification(channel=..., payload=...)`` for each notification,
        until cancelled. A lost connection (terminated backend, server
        restart, half-open socket caught by the keepalive deadline) is closed
        and re-established with backoff; notifications sent meanwhile are
        lost: ``on_listening`` is called each time LISTEN is in place, so the
        caller can catch up."""
        channels = list(channels)
        delay = 1.0
        lost_since: float | None = None
        while True:
            connection: psycopg.AsyncConnection | None = None
            try:
                connection = await utils.wait_for(
                    self._connect_standalone(), connector.LISTEN_TIMEOUT
                )
                for channel in channels:
                    await utils.wait_for(
                        connection.execute(
                            psycopg.sql.SQL(queries.LISTEN).format(
                                channel=psycopg.sql.Identifier(channel)
                            )
                        ),
                        connector.LISTEN_TIMEOUT,
                    )
                delay = 1.0
                if lost_since is not None:
                    logger.warning(
                        "Listening again for notifications, "
                        f"{time.monotonic() - lost_since:.1f} s after the connection was lost",
                        extra={"action": "listen_connection_restored"},
                    )
                    lost_since = None
                if on_listening is not None:
                    result = on_listening()
                    if inspect.isawaitable(result):
                        await result
                await self._receive(connection, on_notification)
            except (psycopg.Error, OSError, asyncio.TimeoutError) as exc:
                if lost_since is None:
                    lost_since = time.monotonic()
                logger.warning(
                    f"Listening connection lost ({exc!r}); reconnecting in {delay:.0f} s",
                    extra={"action": "listen_connection_lost"},
                )
            finally:
                if connection is not None:
                    await _close_quietly(connection)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RECONNECT_DELAY)

    async def _receive(
        self, connection: psycopg.AsyncConnection, on_notification: connector.Notify
    ) -> None:
        while True:
            # Returns after LISTEN_TIMEOUT seconds (psycopg >= 3.2), so that a
            # quiet connection gets checked; no wait_for around a generator.
            async for notification in connection.notifies(timeout=connector.LISTEN_TIMEOUT):
                try:
                    await on_notification(
                        channel=notification.channel, payload=notification.payload
                    )
                except Exception:
                    logger.exception(
                        "Error while handling a notification",
                        extra={"action": "notification_handler_error"},
                    )
            # Quiet for a while: make sure the connection is still alive (a
            # half-open socket would hang: hence the deadline).
            await utils.wait_for(
                connection.execute(queries.KEEPALIVE), connector.LISTEN_TIMEOUT
            )


async def _close_quietly(connection: psycopg.AsyncConnection) -> None:
    """Close a listening connection, broken or not, never raising (a close
    cancelled by a stopping worker is finished in the background)."""
    with contextlib.suppress(Exception):
        await asyncio.shield(connection.close())
