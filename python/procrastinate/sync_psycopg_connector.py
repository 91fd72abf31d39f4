"""SyncPsycopgConnector: a synchronous connector over psycopg 3's
``psycopg_pool.ConnectionPool``; also the shared psycopg helpers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import psycopg.rows
import psycopg.types.json
import psycopg_pool

from procrastinate import connector, exceptions

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


class _ConnectionExecutor:
    """Runs queries on one connection (inside SyncPsycopgConnector.transaction)."""

    def __init__(self, owner: SyncPsycopgConnector, connection: psycopg.Connection):
        self._owner = owner
        self._connection = connection

    def execute_query(self, query: str, **arguments: Any) -> None:
        return self._owner._run(self._connection, query, arguments, "none")

    def execute_query_one(self, query: str, **arguments: Any) -> dict[str, Any] | None:
        return self._owner._run(self._connection, query, arguments, "one")

    def execute_query_all(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
        return self._owner._run(self._connection, query, arguments, "all")


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
        arguments = {"check": psycopg_pool.ConnectionPool.check_connection}
        arguments.update(self._pool_args)
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
        with wrap_exceptions():
            with self.pool.connection() as connection:
                return self._run(connection, query, arguments, fetch)

    def execute_query(self, query: str, **arguments: Any) -> None:
        return self._execute(query, arguments, "none")

    def execute_query_one(self, query: str, **arguments: Any) -> dict[str, Any] | None:
        return self._execute(query, arguments, "one")

    def execute_query_all(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
        return self._execute(query, arguments, "all")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[_ConnectionExecutor]:
        with wrap_exceptions():
            with self.pool.connection() as connection, connection.transaction():
                yield _ConnectionExecutor(self, connection)
