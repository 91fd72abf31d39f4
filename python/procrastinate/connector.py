"""The connector interface: how the driver talks to PostgreSQL.

A connector runs a query with named parameters (``%(name)s``) and returns
rows as dicts. Synchronous connectors implement ``execute_query``,
``execute_query_one``, ``execute_query_all`` and ``transaction``; asynchronous
ones the ``_async`` forms, ``transaction_async`` and ``listen_notify``, and get
the synchronous forms from :class:`BaseAsyncConnector`.

Operations of the driver (JobManager, SchemaManager) are written once, as
generators yielding :class:`Call` objects; :func:`run_async` and
:func:`run_sync` execute them, so sync APIs are a thin layer over one
implementation.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
)
from typing import Any, Protocol, TypeVar

from procrastinate import exceptions

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


class BaseConnector:
    """Interface of every connector (synchronous part)."""

    json_dumps: Callable[[Any], Any] | None = None
    json_loads: Callable[[Any], Any] | None = None

    def dump_json(self, value: Any) -> str:
        return dump_json(value, self.json_dumps)

    def get_sync_connector(self) -> BaseConnector:
        """The connector to use from synchronous code."""
        return self

    def open(self, pool: Pool | None = None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def execute_query(self, query: str, **arguments: Any) -> None:
        raise NotImplementedError

    def execute_query_one(self, query: str, **arguments: Any) -> dict[str, Any] | None:
        """The first row, or None when there is none."""
        raise NotImplementedError

    def execute_query_all(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
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

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        raise exceptions.SyncConnectorConfigurationError

    async def execute_query_one_async(
        self, query: str, **arguments: Any
    ) -> dict[str, Any] | None:
        raise exceptions.SyncConnectorConfigurationError

    async def execute_query_all_async(
        self, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        raise exceptions.SyncConnectorConfigurationError

    def transaction_async(self) -> contextlib.AbstractAsyncContextManager[Any]:
        raise exceptions.SyncConnectorConfigurationError

    async def listen_notify(
        self, on_notification: Notify, channels: Iterable[str]
    ) -> None:
        raise exceptions.SyncConnectorConfigurationError


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

    async def open_async(self, pool: Pool | None = None) -> None:
        raise NotImplementedError

    async def close_async(self) -> None:
        raise NotImplementedError

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        raise NotImplementedError

    async def execute_query_one_async(
        self, query: str, **arguments: Any
    ) -> dict[str, Any] | None:
        raise NotImplementedError

    async def execute_query_all_async(
        self, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    def transaction_async(self) -> contextlib.AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def listen_notify(
        self, on_notification: Notify, channels: Iterable[str]
    ) -> None:
        raise NotImplementedError

    async def side_connection_params(self) -> tuple[str, dict[str, Any]] | None:
        """The conninfo and keyword arguments of a psycopg connection of the
        worker's own, outside the pool (its heartbeat thread), or None when
        the connector cannot tell (the heartbeat then runs on the event
        loop)."""
        return None

    async def check_async(self) -> bool:
        """Install the schema if the database has none, else verify it.
        True when it was installed by this call."""
        from procrastinate import schema

        return await schema.SchemaManager(self).check_async()

    def check(self) -> Any:
        """check_async, awaitable from inside an event loop
        (``await connector.check()``), synchronous elsewhere."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
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
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
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

    def _sync_or_awaitable(self, name: str, query: str, arguments: dict[str, Any]):
        if not self.is_open_async:
            fallback = self.get_sync_connector()
            if fallback is self:
                raise exceptions.AppNotOpen
            return getattr(fallback, name)(query, **arguments)
        coro = getattr(self, f"{name}_async")(query, **arguments)
        return self.run_sync(coro, allow_awaitable=True)

    def execute_query(self, query: str, **arguments: Any) -> None:
        return self._sync_or_awaitable("execute_query", query, arguments)

    def execute_query_one(self, query: str, **arguments: Any) -> dict[str, Any] | None:
        return self._sync_or_awaitable("execute_query_one", query, arguments)

    def execute_query_all(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
        return self._sync_or_awaitable("execute_query_all", query, arguments)


# --- one connection inside a transaction ---------------------------------------


class ConnectionExecutor:
    """The queries of a sync connector's ``transaction()``, run on its one
    connection by the connector's ``_run(connection, query, arguments, fetch)``."""

    def __init__(self, owner: Any, connection: Any):
        self._owner = owner
        self._connection = connection

    def execute_query(self, query: str, **arguments: Any) -> None:
        return self._owner._run(self._connection, query, arguments, "none")

    def execute_query_one(self, query: str, **arguments: Any) -> dict[str, Any] | None:
        return self._owner._run(self._connection, query, arguments, "one")

    def execute_query_all(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
        return self._owner._run(self._connection, query, arguments, "all")


class AsyncConnectionExecutor:
    """The same for an async connector's ``transaction_async()``."""

    def __init__(self, owner: Any, connection: Any):
        self._owner = owner
        self._connection = connection

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        return await self._owner._run(self._connection, query, arguments, "none")

    async def execute_query_one_async(
        self, query: str, **arguments: Any
    ) -> dict[str, Any] | None:
        return await self._owner._run(self._connection, query, arguments, "one")

    async def execute_query_all_async(
        self, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        return await self._owner._run(self._connection, query, arguments, "all")


# --- operations written once, run sync or async -------------------------------


@dataclasses.dataclass(frozen=True)
class Call:
    """One query an operation asks to run; ``fetch`` is none, one or all."""

    query: str
    arguments: dict[str, Any]
    fetch: str = "all"


def call_none(query: str, **arguments: Any) -> Call:
    return Call(query, arguments, "none")


def call_one(query: str, **arguments: Any) -> Call:
    return Call(query, arguments, "one")


def call_all(query: str, **arguments: Any) -> Call:
    return Call(query, arguments, "all")


#: An operation: yields Calls, receives each result (None, a row or rows),
#: and returns its own result. Errors of a call are thrown into it.
Operation = Generator[Call, Any, T]

_METHODS = {
    "none": "execute_query",
    "one": "execute_query_one",
    "all": "execute_query_all",
}


async def run_async(operation: Operation[T], executor: Any) -> T:
    """Run an operation with an async executor (a connector or a
    transaction_async handle)."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            call = operation.throw(error) if error else operation.send(result)
        except StopIteration as stop:
            return stop.value
        result, error = None, None
        method = getattr(executor, f"{_METHODS[call.fetch]}_async")
        try:
            result = await method(call.query, **call.arguments)
        except Exception as exc:
            error = exc


def run_sync(operation: Operation[T], executor: Any) -> T:
    """Run an operation with a sync executor (a connector or a transaction
    handle)."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            call = operation.throw(error) if error else operation.send(result)
        except StopIteration as stop:
            return stop.value
        result, error = None, None
        method = getattr(executor, _METHODS[call.fetch])
        try:
            result = method(call.query, **call.arguments)
        except Exception as exc:
            error = exc


@contextlib.contextmanager
def _no_transaction_sync(connector: BaseConnector) -> Iterator[BaseConnector]:
    yield connector


async def run_operation_async(
    connector: BaseConnector, operation: Operation[T], *, transaction: bool = False
) -> T:
    """Run an operation on a connector, its calls in one transaction or each
    on its own."""
    if not transaction:  # the common case, without a context manager
        return await run_async(operation, connector)
    async with connector.transaction_async() as executor:
        return await run_async(operation, executor)


def run_operation_sync(
    connector: BaseConnector, operation: Operation[T], *, transaction: bool = False
) -> T:
    """Synchronous form of run_operation_async, from any thread.

    With an asynchronous connector open, the operation runs on its loop
    (SyncCallInEventLoop from inside that loop); otherwise on the connector's
    synchronous side (``get_sync_connector()``).
    """
    sync_connector = connector.get_sync_connector()
    if isinstance(sync_connector, BaseAsyncConnector):
        coro = run_operation_async(sync_connector, operation, transaction=transaction)
        return sync_connector.run_sync(coro)
    context = (
        sync_connector.transaction()
        if transaction
        else _no_transaction_sync(sync_connector)
    )
    with context as executor:
        return run_sync(operation, executor)
