"""Operations of the driver (JobManager, SchemaManager, the version check),
written once as generators yielding :class:`Call` objects; :func:`run_async`
and :func:`run_sync` execute them, so sync APIs are a thin layer over one
implementation. ``procrastinate.connector`` re-exports these names.

Both run on :func:`drive`, which runs any generator of steps: the psycopg 3
connectors write their pool handling once that way too."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

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
