"""SyncPsycopgConnector: a synchronous connector over psycopg 3's
``psycopg_pool.ConnectionPool``; also the shared psycopg helpers."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import psycopg.rows
import psycopg.types.json
import psycopg_pool

from procrastinate import connector, exceptions
from procrastinate._db import queries

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def wrap_exceptions() -> Iterator[None]:
    """Turn psycopg errors into procrastinate exceptions (by SQLSTATE)."""
    try:
        yield
    except psycopg.Error as exc:
        raise exceptions.from_database_error(exc) from exc


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


def pool_defaults(pool_args: dict[str, Any], check: Any) -> dict[str, Any]:
    """The arguments of a pool we create: connections in autocommit mode
    (each driver call is one atomic SQL function call; transaction() opens
    an explicit one) and checked at checkout only after being idle. Both
    can be overridden (``kwargs={"autocommit": False}``, ``check=...``)."""
    arguments = {"check": check, **pool_args}
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


class PsycopgAdapter:
    """Parameter and cursor handling shared by the psycopg 3 connectors."""

    json_dumps: Callable[[Any], Any] | None
    json_loads: Callable[[Any], Any] | None

    def _wrap_value(self, value: Any) -> Any:
        # Dicts are JSON (procrastinate 3.x behaviour); lists stay arrays.
        if isinstance(value, dict):
            if self.json_dumps is not None:
                return psycopg.types.json.Jsonb(value, dumps=self.json_dumps)
            return psycopg.types.json.Jsonb(value)
        if isinstance(value, list):
            return [self._wrap_value(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self._wrap_value(item) for item in value)
        return value

    def _parameters(self, arguments: dict[str, Any]) -> dict[str, Any] | None:
        # No arguments: no placeholder parsing ("%" stays "%"), and several
        # statements may be sent at once (schema scripts).
        if not arguments:
            return None
        return {key: self._wrap_value(value) for key, value in arguments.items()}

    def _configure_cursor(self, cursor: Any) -> None:
        if self.json_loads is not None:
            psycopg.types.json.set_json_loads(self.json_loads, context=cursor)
        if self.json_dumps is not None:
            psycopg.types.json.set_json_dumps(self.json_dumps, context=cursor)


def no_result(fetch: str) -> Any:
    """Result of a statement that returns no rows at all (no description)."""
    return [] if fetch == "all" else None


class SyncPsycopgConnector(PsycopgAdapter, connector.BaseConnector):
    """Synchronous PostgreSQL connector over ``psycopg_pool.ConnectionPool``.

    ``conninfo=`` (or its alias ``dsn=``) and any other keyword arguments go
    to the pool; without conninfo, libpq's environment variables apply.
    ``json_dumps``/``json_loads`` serialise JSON values.
    """

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
        self._pool: psycopg_pool.ConnectionPool | None = None
        self._pool_externally_set = False

    @property
    def pool(self) -> psycopg_pool.ConnectionPool:
        if self._pool is None:
            raise exceptions.AppNotOpen
        return self._pool

    def open(self, pool: psycopg_pool.ConnectionPool | None = None) -> None:
        """Create and open the pool, or use ``pool`` (left open on close)."""
        if self._pool is not None:
            return
        if pool is not None:
            self._pool, self._pool_externally_set = pool, True
            return
        # No check by the pool itself: _checkout checks (see there why).
        arguments = pool_defaults(self._pool_args, None)
        with wrap_exceptions():
            new_pool = psycopg_pool.ConnectionPool(**arguments, open=False)
            new_pool.open(wait=True)
        self._pool, self._pool_externally_set = new_pool, False

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and not self._pool_externally_set:
            with wrap_exceptions():
                pool.close()

    def _run(
        self,
        connection: psycopg.Connection,
        query: str,
        arguments: dict[str, Any],
        fetch: str,
    ) -> Any:
        with wrap_exceptions():
            with connection.cursor(row_factory=psycopg.rows.dict_row) as cursor:
                self._configure_cursor(cursor)
                cursor.execute(query, self._parameters(arguments))  # type: ignore[arg-type]
                if fetch == "none" or cursor.description is None:
                    return no_result(fetch)
                return cursor.fetchone() if fetch == "one" else cursor.fetchall()

    def _execute(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        pool = self.pool
        retry = False
        while True:
            try:
                connection = self._checkout(pool)
            except psycopg.Error as exc:
                raise exceptions.from_database_error(exc) from exc
            try:
                result = self._run(connection, query, arguments, fetch)
                if not connection.autocommit:  # a pool given by the user
                    with wrap_exceptions():
                        connection.commit()
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
                    pool.check()
            finally:
                if not connection.autocommit and in_transaction(connection):
                    with contextlib.suppress(psycopg.Error):
                        connection.rollback()
                mark_returned(connection)
                pool.putconn(connection)

    @staticmethod
    def _checkout(pool: psycopg_pool.ConnectionPool) -> psycopg.Connection:
        """A connection from the pool, checked first when idle long enough
        to have been dropped; a broken one goes back and the next is taken
        at once (PsycopgConnector._checkout says why the pool's own check
        is not used)."""
        for _ in range(CHECKOUT_TRIES):
            connection = pool.getconn()
            if not needs_check(connection):
                return connection
            try:
                psycopg_pool.ConnectionPool.check_connection(connection)
            except psycopg.Error:
                pool.putconn(connection)
                continue
            return connection
        return pool.getconn()  # the query tells, if this one is dead too

    def execute_query(self, query: str, **arguments: Any) -> None:
        return self._execute(query, arguments, "none")

    def execute_query_one(self, query: str, **arguments: Any) -> dict[str, Any] | None:
        return self._execute(query, arguments, "one")

    def execute_query_all(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
        return self._execute(query, arguments, "all")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[connector.ConnectionExecutor]:
        pool = self.pool
        with wrap_exceptions():
            connection = self._checkout(pool)
            try:
                with connection.transaction():
                    yield connector.ConnectionExecutor(self, connection)
            finally:
                mark_returned(connection)
                pool.putconn(connection)
