"""Operations of the driver (JobManager, SchemaManager, the version check),
written once as generators yielding :class:`Call` objects; :func:`run_async`
and :func:`run_sync` execute them, so sync APIs are a thin layer over one
implementation. ``procrastinate.connector`` re-exports these names.
``@operation`` declares a JobManager operation once, for both forms.

Both run on :func:`drive`, which runs any generator of steps: the psycopg 3
connectors write their pool handling once that way too."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import re
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar

from procrastinate import exceptions

if TYPE_CHECKING:
    from procrastinate.connector import BaseConnector

T = TypeVar("T")
S = TypeVar("S")


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

METHODS = {"none": "execute_query", "one": "execute_query_one", "all": "execute_query_all"}


async def drive(steps: Generator[S, Any, T], execute: Callable[[S], Awaitable[Any]]) -> T:
    """Run a generator of steps: each step it yields goes to ``execute``,
    whose result is sent back in (or error thrown in)."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = steps.throw(error) if error is not None else steps.send(result)
        except StopIteration as stop:
            return stop.value
        result, error = None, None
        try:
            result = await execute(step)
        except BaseException as exc:  # cancellation too: the steps clean up
            error = exc


def drive_sync(steps: Generator[S, Any, T], execute: Callable[[S], Any]) -> T:
    """drive, with a synchronous ``execute``."""

    async def execute_now(step: S) -> Any:
        return execute(step)

    # Nothing in this coroutine ever suspends: it finishes in one step.
    coroutine = drive(steps, execute_now)
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("steps driven synchronously awaited")  # pragma: no cover


async def run_async(operation: Operation[T], executor: Any) -> T:
    """Run an operation with an async executor (a connector or a
    transaction_async handle)."""

    def execute(call: Call) -> Awaitable[Any]:
        method = getattr(executor, f"{METHODS[call.fetch]}_async")
        return method(call.query, **call.arguments)

    return await drive(operation, execute)


def run_sync(operation: Operation[T], executor: Any) -> T:
    """Run an operation with a sync executor (a connector or a transaction
    handle)."""

    def execute(call: Call) -> Any:
        return getattr(executor, METHODS[call.fetch])(call.query, **call.arguments)

    return drive_sync(operation, execute)


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
    on_loop = getattr(sync_connector, "run_sync", None)  # BaseAsyncConnector
    if on_loop is not None:
        return on_loop(run_operation_async(sync_connector, operation, transaction=transaction))
    no_transaction = contextlib.nullcontext(sync_connector)
    with sync_connector.transaction() if transaction else no_transaction as executor:
        return run_sync(operation, executor)


# --- the shapes of the calls --------------------------------------------------------


def one(query: str, column: str, /, **arguments: Any) -> Operation[Any]:
    """``column`` of the one row ``query`` returns."""
    row = yield call_one(query, **arguments)
    return row[column]


def rows(query: str, /, **arguments: Any) -> Operation[list[dict[str, Any]]]:
    result = yield call_all(query, **arguments)
    return [dict(row) for row in result]


def ids(query: str, /, **arguments: Any) -> Operation[list[int]]:
    result = yield call_all(query, **arguments)
    return [row["id"] for row in result]


# --- one declaration, two forms ----------------------------------------------------

P = ParamSpec("P")
R = TypeVar("R")


class _Method(Generic[P, T]):
    """One form of an operation: ``run(manager, ...)`` with the signature and
    docstring of ``function``, returning X where ``function`` returns
    Operation[X] (help(), IDEs). A non-data descriptor, so an instance
    attribute (monkeypatch) overrides it; on the class, the plain function."""

    def __init__(self, run: Callable[..., Any], function: Callable[..., Any]) -> None:
        self.function = functools.update_wrapper(run, function)
        signature = inspect.signature(function)
        result = signature.return_annotation
        if isinstance(result, str):  # annotations are postponed here
            result = re.sub(r"^Operation\[(.*)\]$", r"\1", result)
            run.__annotations__ = {**function.__annotations__, "return": result}
        run.__signature__ = signature.replace(return_annotation=result)  # type: ignore[attr-defined]
        self.named = False

    def __set_name__(self, owner: type, name: str) -> None:
        if not self.named:  # the first name of ``a = b = x.async_``
            self.named = True
            self.function.__name__ = name
            self.function.__qualname__ = f"{owner.__qualname__}.{name}"

    def __get__(self, manager: Any, owner: type | None = None) -> Callable[P, T]:
        if manager is None:
            return self.function
        return types.MethodType(self.function, manager)


class operation(_Method[P, R]):
    """Declare a JobManager operation once: ``function(self, ...)`` returns
    its Operation (connector.Call generator). The attribute is the
    synchronous form, ``manager.x(...) -> X``; ``x_async = x.async_`` the
    asynchronous one, ``await manager.x_async(...) -> X``. Code before the
    generator's first ``yield`` runs before any query; a plain function
    returning a generator runs at the call (stacklevel=3 names the caller).
    An operation with a ``connection`` parameter runs on the connection it
    is given, in the caller's transaction (procrastinate 3.10's external
    connection), else on the connector."""

    def __init__(self, function: Callable[Concatenate[Any, P], Operation[R]]):
        connection_at = _connection_position(function)

        def run_sync(manager: Operations, /, *args: Any, **kwargs: Any) -> Any:
            connection = _connection(connection_at, args, kwargs)
            return manager._sync(function(manager, *args, **kwargs), connection)

        async def run_async(manager: Operations, /, *args: Any, **kwargs: Any) -> Any:
            connection = _connection(connection_at, args, kwargs)
            return await manager._async(function(manager, *args, **kwargs), connection)

        super().__init__(run_sync, function)
        self.async_: _Method[P, Coroutine[Any, Any, R]] = _Method(run_async, function)


def _connection_position(function: Callable[..., Any]) -> int | None:
    """Where an operation takes a ``connection`` of the caller (its index in
    the positional arguments after self), or None when it takes none."""
    names = list(inspect.signature(function).parameters)
    return names.index("connection") - 1 if "connection" in names else None


def _connection(position: int | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The caller's connection an operation is to run on, if it has one."""
    if position is None:
        return None
    if "connection" in kwargs:
        return kwargs["connection"]
    return args[position] if len(args) > position else None


class Operations:
    """What runs declared operations on a connector: JobManager's base."""

    def __init__(self, connector: BaseConnector):
        self.connector = connector

    @contextlib.contextmanager
    def _schema_errors(self) -> Iterator[None]:
        """A missing table or function means a missing (or old) schema."""
        try:
            yield
        except exceptions.ConnectorException as exc:
            if exc.sqlstate not in exceptions.SCHEMA_MISSING_SQLSTATES:
                raise
            raise exceptions.SchemaNotInstalled(
                f"{exc}: the procrastinate schema is missing or older than this code"
                " (`procrastinate schema --apply` installs it in an empty database,"
                " `procrastinate schema --migrate` brings it up to date)"
            ) from exc

    def _sync(self, operation: Operation[T], connection: Any = None) -> T:
        """Run ``operation``: on the connector, or on ``connection``, a
        connection of the caller, inside its transaction."""
        with self._schema_errors():
            if connection is not None:
                return run_sync(operation, self.connector.on_connection(connection))
            return run_operation_sync(self.connector, operation)

    async def _async(self, operation: Operation[T], connection: Any = None) -> T:
        with self._schema_errors():
            if connection is not None:
                return await run_async(operation, self.connector.on_connection(connection))
            return await run_operation_async(self.connector, operation)
