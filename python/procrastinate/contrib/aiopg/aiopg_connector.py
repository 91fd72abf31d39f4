"""AiopgConnector: an asynchronous connector over aiopg (psycopg2 based).
aiopg is optional: this module imports without it, and building the
connector then raises ImportError."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from procrastinate import connector, exceptions, utils
from procrastinate._db import queries
from procrastinate.contrib.psycopg2 import psycopg2_connector
from procrastinate.contrib.psycopg2.psycopg2_connector import (
    Psycopg2Adapter,
    shape_result,
    wrap_exceptions,
)

try:
    import aiopg
    import psycopg2
    import psycopg2.extras
    import psycopg2.sql
except ImportError as exc:  # pragma: no cover - depends on the environment
    aiopg = None  # type: ignore[assignment]
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

logger = logging.getLogger(__name__)

MAX_RECONNECT_DELAY = 30.0

# aiopg pool arguments that psycopg2's pool does not take, and renamed ones.
_AIOPG_ONLY = {
    "enable_json",
    "enable_hstore",
    "enable_uuid",
    "on_connect",
    "timeout",
    "pool_recycle",
    "echo",
    "cursor_factory",
}
_RENAMED = {"minsize": "minconn", "maxsize": "maxconn"}
# aiopg.create_pool arguments that aiopg.connect does not take.
_POOL_ONLY = {"minsize", "maxsize", "pool_recycle", "on_connect"}


class AiopgConnector(Psycopg2Adapter, connector.BaseAsyncConnector):
    """Asynchronous connector over an ``aiopg.Pool``.

    Keyword arguments go to ``aiopg.create_pool`` (``dsn=""`` by default:
    libpq's environment variables; ``conninfo`` is an alias of ``dsn``).
    Before ``open_async``, synchronous use goes through a Psycopg2Connector
    built from the same arguments.
    """

    def __init__(
        self,
        *,
        json_dumps: Callable[[Any], Any] | None = None,
        json_loads: Callable[[Any], Any] | None = None,
        **kwargs: Any,
    ):
        if aiopg is None:
            raise ImportError(
                "AiopgConnector needs aiopg: pip install aiopg"
            ) from _IMPORT_ERROR
        self.json_dumps = json_dumps
        self.json_loads = json_loads
        if "conninfo" in kwargs:
            kwargs["dsn"] = kwargs.pop("conninfo")
        self._user_args = dict(kwargs)
        user_on_connect = kwargs.pop("on_connect", None)

        async def on_connect(connection: Any) -> None:
            if user_on_connect is not None:
                await user_on_connect(connection)
            if json_loads is not None:
                psycopg2.extras.register_default_jsonb(connection.raw, loads=json_loads)

        self._pool_args = {
            "dsn": "",
            "enable_json": False,
            "enable_hstore": False,
            "enable_uuid": False,
            "cursor_factory": psycopg2.extras.RealDictCursor,
            "on_connect": on_connect,
            **kwargs,
        }
        self._pool: Any = None
        self._pool_externally_set = False
        self._sync_connector: psycopg2_connector.Psycopg2Connector | None = None

    def get_sync_connector(self) -> connector.BaseConnector:
        if self._pool is not None:
            return self
        if self._sync_connector is None:
            arguments = {
                _RENAMED.get(key, key): value
                for key, value in self._user_args.items()
                if key not in _AIOPG_ONLY
            }
            self._sync_connector = psycopg2_connector.Psycopg2Connector(
                json_dumps=self.json_dumps, json_loads=self.json_loads, **arguments
            )
        return self._sync_connector

    def open(self, pool: Any = None) -> None:
        if self._pool is None:
            self.get_sync_connector().open(pool)

    def close(self) -> None:
        if self._sync_connector is not None:
            self._sync_connector.close()
            self._sync_connector = None

    @property
    def pool(self) -> Any:
        if self._pool is None:
            raise exceptions.AppNotOpen
        return self._pool

    async def open_async(self, pool: Any = None) -> None:
        if self._pool is not None:
            return
        if self._sync_connector is not None:
            await asyncio.to_thread(self._sync_connector.close)
            self._sync_connector = None
        if pool is not None:
            self._pool, self._pool_externally_set = pool, True
        else:
            with wrap_exceptions():
                self._pool = await aiopg.create_pool(**self._pool_args)
            self._pool_externally_set = False
        self._bind_loop()

    async def close_async(self) -> None:
        pool, self._pool = self._pool, None
        self._unbind_loop()
        if pool is not None and not self._pool_externally_set:
            pool.close()
            await pool.wait_closed()

    async def _run(
        self, connection: Any, query: str, arguments: dict[str, Any], fetch: str
    ) -> Any:
        with wrap_exceptions():
            async with connection.cursor(
                cursor_factory=psycopg2.extras.RealDictCursor
            ) as cursor:
                await cursor.execute(query, self._parameters(arguments))
                if fetch == "none" or cursor.description is None:
                    return shape_result(fetch, cursor, None)
                rows = (
                    [await cursor.fetchone()]
                    if fetch == "one"
                    else await cursor.fetchall()
                )
                return shape_result(
                    fetch, cursor, [row for row in rows if row is not None]
                )

    async def _execute(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        with wrap_exceptions():
            async with self.pool.acquire() as connection:
                return await self._run(connection, query, arguments, fetch)

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
        # aiopg connections are in autocommit mode: delimit the transaction.
        with wrap_exceptions():
            async with self.pool.acquire() as connection:
                await self._run(connection, queries.BEGIN, {}, "none")
                try:
                    yield connector.AsyncConnectionExecutor(self, connection)
                except BaseException:
                    if not connection.closed:
                        await self._run(connection, queries.ROLLBACK, {}, "none")
                    raise
                await self._run(connection, queries.COMMIT, {}, "none")

    async def listen_notify(
        self,
        on_notification: connector.Notify,
        channels: Iterable[str],
        *,
        on_listening: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        """LISTEN on a dedicated connection until cancelled (see
        PsycopgConnector.listen_notify)."""
        channels = list(channels)
        connect_args = {
            key: value
            for key, value in self._pool_args.items()
            if key not in _POOL_ONLY
        }
        delay = 1.0
        while True:
            try:
                async with aiopg.connect(**connect_args) as connection:
                    for channel in channels:
                        statement = psycopg2.sql.SQL(queries.LISTEN).format(
                            channel=psycopg2.sql.Identifier(channel)
                        )
                        async with connection.cursor() as cursor:
                            await cursor.execute(statement)
                    delay = 1.0
                    if on_listening is not None:
                        result = on_listening()
                        if inspect.isawaitable(result):
                            await result
                    await self._receive(connection, on_notification)
            except psycopg2.Error as exc:
                logger.warning(
                    f"Listening connection lost ({exc}); reconnecting in {delay:.0f} s",
                    extra={"action": "listen_connection_lost"},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY)

    async def _receive(
        self, connection: Any, on_notification: connector.Notify
    ) -> None:
        while True:
            try:
                notification = await utils.wait_for(
                    connection.notifies.get(), connector.LISTEN_TIMEOUT
                )
            except asyncio.TimeoutError:
                async with connection.cursor() as cursor:
                    await cursor.execute(queries.KEEPALIVE)
                continue
            try:
                await on_notification(
                    channel=notification.channel, payload=notification.payload
                )
            except Exception:
                logger.exception(
                    "Error while handling a notification",
                    extra={"action": "notification_handler_error"},
                )
