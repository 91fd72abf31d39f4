"""The connector interface: how the driver talks to PostgreSQL.

A connector runs a query with named parameters (``%(name)s``) and returns
rows as dicts. Synchronous connectors implement ``_query`` (behind
``execute_query``, ``execute_query_one`` and ``execute_query_all``) and
``transaction``; asynchronous ones ``_execute`` (behind the ``_async`` forms),
``transaction_async`` and ``listen_notify``, and get the synchronous forms
from :class:`BaseAsyncConnector`.

Operations of the driver are written once, as generators of queries run
sync or async: see ``procrastinate._db.ops`` (re-exported here).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from typing import Any, Protocol, TypeVar

from procrastinate import exceptions, utils
from procrastinate._db.ops import (  # noqa: F401 - re-exported
    METHODS,
    Call,
    Operation,
    call_all,
    call_none,
    call_one,
    run_async,
    run_operation_async,
    run_operation_sync,
    run_sync,
)

T = TypeVar("T")
Pool = Any
Engine = Any

#: Seconds between liveness checks of a listening connection.
LISTEN_TIMEOUT = 30.0


class Notify(Protocol):
    def __call__(self, *, channel: str, payload: str) -> Awaitable[None]: ...


def dump_json(value: Any, json_dumps: Callable[[Any], Any] | None = None) -> str:
    """Serialise to JSON text with ``json_dumps`` (default: strict json.dumps).
    Raises UnserializableArguments, before anything reaches the database."""
    try:
        dumped = (
            json_dumps(value)
            if json_dumps is not None
            else json.dumps(value, allow_nan=False)
        )
    except (TypeError, ValueError, OverflowError) as exc:
        raise exceptions.UnserializableArguments(
            f"Job arguments are not JSON-serialisable: {exc}"
        ) from exc
    except RecursionError as exc:
        raise exceptions.UnserializableArguments(
            "Job arguments are nested too deeply to be serialised to JSON"
        ) from exc
    text = dumped.decode() if isinstance(dumped, (bytes, bytearray)) else dumped
    if "\\u0000" in text and _JSON_NUL.search(text):  # fast path first
        raise exceptions.UnserializableArguments(
            "Job arguments contain a NUL character (\\u0000), which PostgreSQL's "
            "jsonb cannot store: remove it or encode the value (base64, say)"
        )
    return text


# A \u0000 escape in JSON text (not an escaped backslash followed by "u0000").
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


@contextlib.contextmanager
def database_errors(error_class: type[BaseException]) -> Iterator[None]:
    """Turn a driver's errors into procrastinate exceptions (by SQLSTATE)."""
    try:
        yield
    except error_class as exc:
        exceptions.raise_database_error(exc)


def no_rows(fetch: str) -> Any:
    """The result of a statement that returns no rows at all."""
    return [] if fetch == "all" else None


class Executor:
    """The query methods, over two hooks taking ``(query, arguments,
    fetch)``, fetch being none, one or all: ``_query`` for the synchronous
    forms, ``_execute`` (a coroutine) for the ``_async`` ones."""

    def _query(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        raise NotImplementedError

    async def _execute(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        raise exceptions.SyncConnectorConfigurationError

    def execute_query(self, query: str, **arguments: Any) -> None:
        return self._query(query, arguments, "none")

    def execute_query_one(self, query: str, **arguments: Any) -> dict[str, Any] | None:
        """The first row, or None when there is none."""
        return self._query(query, arguments, "one")

    def execute_query_all(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
        return self._query(query, arguments, "all")

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        return await self._execute(query, arguments, "none")

    async def execute_query_one_async(self, query: str, **arguments: Any) -> dict[str, Any] | None:
        return await self._execute(query, arguments, "one")

    async def execute_query_all_async(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
        return await self._execute(query, arguments, "all")


class ConnectionExecutor(Executor):
    """The queries of a ``transaction()`` (or ``transaction_async()``), or of
    a connection of the caller (``BaseConnector.on_connection``), run on that
    one connection by the connector's ``_run(connection, query, arguments,
    fetch)``: a result for a synchronous connection, a coroutine for an
    asynchronous one."""

    def __init__(self, owner: Any, connection: Any):
        self._owner = owner
        self._connection = connection

    def _query(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        result = self._owner._run(self._connection, query, arguments, fetch)
        if inspect.isawaitable(result) and utils.running_loop() is None:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise TypeError(
                f"{type(self._connection).__name__} is an asynchronous connection: "
                "use the _async form of the call (defer_async, ...)"
            )
        return result

    async def _execute(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        # a synchronous connection works from async code too (it blocks)
        result = self._owner._run(self._connection, query, arguments, fetch)
        return await result if inspect.isawaitable(result) else result


class BaseConnector(Executor):
    """Interface of every connector (synchronous part)."""

    json_dumps: Callable[[Any], Any] | None = None
    json_loads: Callable[[Any], Any] | None = None

    def dump_json(self, value: Any) -> str:
        return dump_json(value, self.json_dumps)

    def _json_parameter(self, value: dict[str, Any]) -> Any:
        """How a dict is sent as a query parameter (JSON)."""
        return self.dump_json(value)

    def _wrap(self, value: Any) -> Any:
        if isinstance(value, dict):
            return self._json_parameter(value)
        if isinstance(value, list):  # lists stay arrays, of wrapped items
            return [self._wrap(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self._wrap(item) for item in value)
        return value

    def _parameters(self, arguments: dict[str, Any]) -> dict[str, Any] | None:
        # No arguments: no placeholder parsing ("%" stays "%"), and several
        # statements may be sent at once (schema scripts).
        if not arguments:
            return None
        return {key: self._wrap(value) for key, value in arguments.items()}

    def get_sync_connector(self) -> BaseConnector:
        """The connector to use from synchronous code."""
        return self

    # --- on a connection of the caller (procrastinate 3.10) ---------------------------

    def on_connection(self, connection: Any) -> ConnectionExecutor:
        """The query methods, run on ``connection`` (of this connector's
        driver: a psycopg connection for the psycopg connectors, sync or
        async) in its current transaction: nothing is committed or rolled
        back, a failed query leaves that transaction failed."""
        if not hasattr(self, "_run"):
            raise exceptions.ConnectorException(
                f"{type(self).__name__} cannot run queries on a connection given to it"
                " (connection=): the psycopg connectors can"
            )
        return ConnectionExecutor(self, connection)

    def execute_query_with_connection(self, connection: Any, query: str, **arguments: Any) -> None:
        return self.on_connection(connection).execute_query(query, **arguments)

    def execute_query_one_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> dict[str, Any] | None:
        return self.on_connection(connection).execute_query_one(query, **arguments)

    def execute_query_all_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        return self.on_connection(connection).execute_query_all(query, **arguments)

    async def execute_query_async_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> None:
        return await self.on_connection(connection).execute_query_async(query, **arguments)

    async def execute_query_one_async_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> dict[str, Any] | None:
        return await self.on_connection(connection).execute_query_one_async(query, **arguments)

    async def execute_query_all_async_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        return await self.on_connection(connection).execute_query_all_async(query, **arguments)

    def open(self, pool: Pool | None = None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """Context manager giving an executor (``execute_query``,
        ``execute_query_one``, ``execute_query_all``) whose queries run in
        one transaction on one connection, committed on exit."""
        raise NotImplementedError

    def check(self) -> bool:
        """Install the schema if the database has none, else verify it.
        True when it was installed by this call. See SchemaManager.check."""
        from procrastinate import schema

        return schema.SchemaManager(self).check()

    async def open_async(self, pool: Pool | None = None) -> None:
        raise exceptions.SyncConnectorConfigurationError

    async def close_async(self) -> None:
        raise exceptions.SyncConnectorConfigurationError

    def transaction_async(self) -> contextlib.AbstractAsyncContextManager[Any]:
        raise exceptions.SyncConnectorConfigurationError

    async def listen_notify(self, on_notification: Notify, channels: Iterable[str]) -> None:
        raise exceptions.SyncConnectorConfigurationError

    async def side_connection_params(self) -> tuple[str, dict[str, Any]] | None:
        """The conninfo and keyword arguments of a psycopg connection of the
        worker's own, outside the pool (its heartbeat thread), or None when
        the connector cannot tell (the heartbeat then runs on the event
        loop)."""
        return None


class BaseAsyncConnector(BaseConnector):
    """Interface of asynchronous connectors.

    Their synchronous methods work from any thread but the one running the
    connector's event loop: there, ``execute_query*`` return an awaitable
    instead (``await connector.execute_query_one(...)`` works). Before
    ``open_async``, synchronous calls go to ``get_sync_connector()``.
    """

    _loop: asyncio.AbstractEventLoop | None = None

    def _bind_loop(self) -> None:
        """Record the loop the pool lives on; called by open_async."""
        self._loop = asyncio.get_running_loop()

    def _unbind_loop(self) -> None:
        self._loop = None

    @property
    def is_open_async(self) -> bool:
        return self._loop is not None

    async def _execute(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        raise NotImplementedError

    async def check_async(self) -> bool:
        """Install the schema if the database has none, else verify it.
        True when it was installed by this call."""
        from procrastinate import schema

        return await schema.SchemaManager(self).check_async()

    def check(self) -> Any:
        """check_async, awaitable from inside an event loop
        (``await connector.check()``), synchronous elsewhere."""
        running = utils.running_loop()
        if running is not None and (self._loop is None or running is self._loop):
            return self.check_async()
        return super().check()

    def open(self, pool: Pool | None = None) -> None:
        if not self.is_open_async:
            raise NotImplementedError(
                f"{type(self).__name__} opens with open_async (or App.open_async)"
            )

    def run_sync(
        self, coro: Coroutine[Any, Any, T], *, allow_awaitable: bool = False
    ) -> T:
        """Run ``coro`` on the connector's loop and return its result.

        From another thread: blocks until done. From the loop's own thread:
        returns ``coro`` itself when ``allow_awaitable``, else raises
        SyncCallInEventLoop (blocking there would deadlock).
        """
        loop = self._loop
        if loop is None:
            coro.close()
            raise exceptions.AppNotOpen
        if utils.running_loop() is loop:
            if allow_awaitable:
                return coro  # type: ignore[return-value]
            coro.close()
            raise exceptions.SyncCallInEventLoop
        if loop.is_closed() or not loop.is_running():
            coro.close()
            raise exceptions.AppNotOpen(
                "The connector was opened on an event loop that is not running "
                "anymore: open the app again (app.open() for synchronous use)"
            )
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def _query(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        # not open, or open on a loop that has stopped: the synchronous side
        fallback = self.get_sync_connector()
        if fallback is not self:
            return getattr(fallback, METHODS[fetch])(query, **arguments)
        if not self.is_open_async:
            raise exceptions.AppNotOpen
        coro = getattr(self, f"{METHODS[fetch]}_async")(query, **arguments)
        return self.run_sync(coro, allow_awaitable=True)
