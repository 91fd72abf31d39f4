"""AiopgConnector: an asynchronous connector over aiopg (psycopg2 based).
aiopg is optional: this module imports without it, and building the
connector then raises ImportError."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from procrastinate import connector, utils
from procrastinate._db import listen, pooled, queries
from procrastinate._db.listen import Ready
from procrastinate.connector import Notify
from procrastinate.contrib.psycopg2 import psycopg2_connector
from procrastinate.contrib.psycopg2.psycopg2_connector import (
    CURSOR,
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
    aiopg = psycopg2 = None  # type: ignore[assignment]
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

MAX_RECONNECT_DELAY = 30.0

# aiopg pool arguments that psycopg2's pool does not take, and renamed ones.
_AIOPG_ONLY = {
    "enable_json", "enable_hstore", "enable_uuid", "on_connect", "timeout", "pool_recycle",
    "echo", "cursor_factory",
}
_RENAMED = {"minsize": "minconn", "maxsize": "maxconn"}
# aiopg.create_pool arguments that aiopg.connect does not take.
_POOL_ONLY = {"minsize", "maxsize", "pool_recycle", "on_connect"}


class AiopgConnector(Psycopg2Adapter, pooled.AsyncPooled):
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
            "cursor_factory": CURSOR,
            "on_connect": on_connect,
            **kwargs,
        }

    def _make_sync_connector(self) -> psycopg2_connector.Psycopg2Connector:
        arguments = {
            _RENAMED.get(key, key): value
            for key, value in self._user_args.items()
            if key not in _AIOPG_ONLY
        }
        return psycopg2_connector.Psycopg2Connector(
            json_dumps=self.json_dumps, json_loads=self.json_loads, **arguments
        )

    async def _create_pool(self) -> Any:
        with wrap_exceptions():
            return await aiopg.create_pool(**self._pool_args)

    async def _close_pool(self, pool: Any) -> None:
        pool.close()
        await pool.wait_closed()

    async def _run(
        self, connection: Any, query: str, arguments: dict[str, Any], fetch: str
    ) -> Any:
        with wrap_exceptions():
            async with connection.cursor(cursor_factory=CURSOR) as cursor:
                await cursor.execute(query, self._parameters(arguments))
                if fetch == "none" or cursor.description is None:
                    return connector.no_rows(fetch)
                rows = [await cursor.fetchone()] if fetch == "one" else await cursor.fetchall()
                return shape_result(fetch, rows)

    async def _execute(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        with wrap_exceptions():
            async with self.pool.acquire() as connection:
                return await self._run(connection, query, arguments, fetch)

    @contextlib.asynccontextmanager
    async def transaction_async(self) -> AsyncIterator[connector.ConnectionExecutor]:
        # aiopg connections are in autocommit mode: delimit the transaction.
        with wrap_exceptions():
            async with self.pool.acquire() as connection:
                await self._run(connection, queries.BEGIN, {}, "none")
                try:
                    yield connector.ConnectionExecutor(self, connection)
                except BaseException:
                    if not connection.closed:
                        await self._run(connection, queries.ROLLBACK, {}, "none")
                    raise
                await self._run(connection, queries.COMMIT, {}, "none")

    _listen_errors = (psycopg2.Error,) if psycopg2 is not None else ()
    _max_reconnect_delay = MAX_RECONNECT_DELAY

    async def _listen_session(self, notify: Notify, channels: list[str], ready: Ready) -> None:
        connect_args = {
            key: value for key, value in self._pool_args.items() if key not in _POOL_ONLY
        }
        async with aiopg.connect(**connect_args) as connection:
            for channel in channels:
                statement = psycopg2.sql.SQL(queries.LISTEN).format(
                    channel=psycopg2.sql.Identifier(channel)
                )
                async with connection.cursor() as cursor:
                    await cursor.execute(statement)
            await ready()
            while True:
                try:
                    notification = await utils.wait_for(
                        connection.notifies.get(), connector.LISTEN_TIMEOUT
                    )
                except asyncio.TimeoutError:
                    async with connection.cursor() as cursor:
                        await cursor.execute(queries.KEEPALIVE)
                    continue
                await listen.deliver(notify, notification)
