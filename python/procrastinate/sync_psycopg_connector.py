"""SyncPsycopgConnector: a synchronous connector over psycopg 3's
``psycopg_pool.ConnectionPool``; also what it shares with PsycopgConnector.

The pool and query handling is written once, as generators of steps (each a
call: the synchronous connector makes it, the asynchronous one awaits it),
run by ``_drive``, as the driver's operations are (``_db.ops``)."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import psycopg
import psycopg.rows
import psycopg.types.json
import psycopg_pool

from procrastinate import connector, exceptions
from procrastinate._db import ops, pooled, queries


def wrap_exceptions() -> contextlib.AbstractContextManager[None]:
    return connector.database_errors(psycopg.Error)


def pool_arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Connector keyword arguments to pool ones: ``dsn`` is an alias of
    ``conninfo``; neither means libpq's environment variables."""
    arguments = dict(kwargs)
    if "dsn" in arguments:
        if "conninfo" in arguments:
            raise TypeError("Pass conninfo or dsn, not both")
        arguments["conninfo"] = arguments.pop("dsn")
    return arguments


#: A pooled connection idle for longer than this (seconds) is checked by the
#: pool before use; one in use more recently is not (one round trip saved per
#: call). A dead connection is still detected: its query fails, the pool
#: replaces it, and reads (queries.RETRYABLE) run once more on a fresh one.
IDLE_CHECK_AFTER = 2.0

_RETURNED_AT = "_procrastinate_returned_at"
#: Connections a checkout tries (each found broken goes back to the pool,
#: which replaces it) before it takes one unchecked.
CHECKOUT_TRIES = 5


class LastUsedFirstPool(psycopg_pool.ConnectionPool):
    """ConnectionPool that hands out the connection returned last.

    psycopg_pool hands its idle connections out in turn, so that one call
    after another wakes a different backend, each time cold in the CPU's
    caches: a single defer costs 100-250 µs more on a small machine (a
    third of it). Taken last-returned first, the connection of the previous
    call serves the next; the ones left idle are those ``max_idle`` closes.
    """

    def _get_ready_connection(self, timeout: float | None) -> Any:
        # (the pool's lock is held) the newest goes where the next is taken
        if len(self._pool) > 1:
            self._pool.rotate(1)
        return super()._get_ready_connection(timeout)


def pool_defaults(pool_args: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a pool we create: connections in autocommit mode
    (each driver call is one atomic SQL function call; transaction() opens
    an explicit one) and not checked by the pool (_checkout_steps checks, see
    there why). Both can be overridden (``kwargs={"autocommit": False}``,
    ``check=...``)."""
    arguments = {"check": None, **pool_args}
    kwargs = arguments.get("kwargs")
    if kwargs is None or isinstance(kwargs, dict):
        arguments["kwargs"] = {"autocommit": True, **(kwargs or {})}
    return arguments


def mark_returned(connection: Any) -> None:
    """Record when a connection goes back to the pool (see needs_check)."""
    try:
        setattr(connection, _RETURNED_AT, time.monotonic())
    except AttributeError:  # a connection class with __slots__: always checked
        pass


def needs_check(connection: Any) -> bool:
    returned = getattr(connection, _RETURNED_AT, None)
    return returned is None or time.monotonic() - returned > IDLE_CHECK_AFTER


def in_transaction(connection: Any) -> bool:
    status = connection.info.transaction_status
    return status in (psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR)


def retry_on_fresh_connection(query: str, error: BaseException, connection: Any) -> bool:
    """Whether a query that failed may run once more on another connection:
    a read (queries.RETRYABLE) whose connection is broken."""
    return (
        query in queries.RETRYABLE
        and isinstance(error.__cause__, psycopg.OperationalError)
        and bool(connection.closed)
    )


Steps = Generator[Callable[[], Any], Any, Any]


class PsycopgAdapter(connector.BaseConnector):
    """Parameters, cursors and pooled connections, for both psycopg 3
    connectors: ``_drive`` runs the steps, ``_pool_class`` checks connections."""

    _pool_class: Any
    pool: Any  # from pooled.Pooled

    def _drive(self, steps: Steps) -> Any:
        return ops.drive_sync(steps, call)

    def _json_parameter(self, value: dict[str, Any]) -> Any:
        # Dicts are JSON (procrastinate 3.x behaviour); lists stay arrays.
        return psycopg.types.json.Jsonb(value, dumps=self.json_dumps)

    def _run(self, connection: Any, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        steps = self._run_steps(connection, query, arguments, fetch)
        # by the connection's kind: a caller may give either to either connector
        if isinstance(connection, psycopg.AsyncConnection):
            return ops.drive(steps, call)  # a coroutine
        return ops.drive_sync(steps, call)

    def _run_steps(
        self, connection: Any, query: str, arguments: dict[str, Any], fetch: str
    ) -> Steps:
        with wrap_exceptions():
            cursor = connection.cursor(row_factory=psycopg.rows.dict_row)
            try:
                if self.json_loads is not None:
                    psycopg.types.json.set_json_loads(self.json_loads, context=cursor)
                if self.json_dumps is not None:
                    psycopg.types.json.set_json_dumps(self.json_dumps, context=cursor)
                yield functools.partial(cursor.execute, query, self._parameters(arguments))
                if fetch == "none" or cursor.description is None:
                    return connector.no_rows(fetch)
                return (yield cursor.fetchone if fetch == "one" else cursor.fetchall)
            finally:
                yield cursor.close

    def _checkout_steps(self, pool: Any) -> Steps:
        """A connection from the pool, checked first when it was idle long
        enough to have been dropped (busy ones are used as they come). A
        broken one goes back, the pool replaces it, and the next is taken at
        once: the pool's own check would wait longer after each broken
        connection (1, 2, 4... s), which a server dropping connections in a
        row turns into a stall of the pool's whole timeout."""
        for _ in range(CHECKOUT_TRIES):
            connection = yield pool.getconn
            if not needs_check(connection):
                return connection
            try:
                yield functools.partial(self._pool_class.check_connection, connection)
            except psycopg.Error:
                yield functools.partial(pool.putconn, connection)
                continue
            return connection
        return (yield pool.getconn)  # the query tells, if this one is dead too

    def _execute_steps(self, query: str, arguments: dict[str, Any], fetch: str) -> Steps:
        pool = self.pool
        retry = False
        while True:
            try:
                connection = yield from self._checkout_steps(pool)
            except psycopg.Error as exc:
                exceptions.raise_database_error(exc)
            try:
                result = yield from self._run_steps(connection, query, arguments, fetch)
                if not connection.autocommit:  # a pool given by the user
                    with wrap_exceptions():
                        yield connection.commit
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
                    yield pool.check
            finally:
                if not connection.autocommit and in_transaction(connection):
                    with contextlib.suppress(psycopg.Error):
                        yield connection.rollback
                mark_returned(connection)
                yield functools.partial(pool.putconn, connection)


def call(step: Callable[[], Any]) -> Any:
    """A step run: its result, or its awaitable for the asynchronous connector."""
    return step()


class SyncPsycopgConnector(PsycopgAdapter, pooled.SyncPooled):
    """Synchronous PostgreSQL connector over ``psycopg_pool.ConnectionPool``.

    ``conninfo=`` (or its alias ``dsn=``) and any other keyword arguments go
    to the pool; without conninfo, libpq's environment variables apply.
    ``json_dumps``/``json_loads`` serialise JSON values.
    """

    _pool_class = psycopg_pool.ConnectionPool

    def __init__(
        self,
        *,
        json_dumps: Callable[[Any], Any] | None = None,
        json_loads: Callable[[Any], Any] | None = None,
        **kwargs: Any,
    ):
        self.json_dumps = json_dumps
        self.json_loads = json_loads
        self._pool_args = pool_arguments(kwargs)

    def _create_pool(self) -> psycopg_pool.ConnectionPool:
        with wrap_exceptions():
            pool = LastUsedFirstPool(**pool_defaults(self._pool_args), open=False)
            pool.open(wait=True)
        return pool

    def _close_pool(self, pool: psycopg_pool.ConnectionPool) -> None:
        with wrap_exceptions():
            pool.close()

    def _query(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        return self._drive(self._execute_steps(query, arguments, fetch))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[connector.ConnectionExecutor]:
        pool = self.pool
        with wrap_exceptions():
            connection = self._drive(self._checkout_steps(pool))
            try:
                with connection.transaction():
                    yield connector.ConnectionExecutor(self, connection)
            finally:
                mark_returned(connection)
                pool.putconn(connection)
