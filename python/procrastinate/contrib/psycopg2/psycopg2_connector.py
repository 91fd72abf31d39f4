"""Psycopg2Connector: a synchronous connector over psycopg2's
ThreadedConnectionPool. psycopg2 is optional: this module imports without it,
and building the connector then raises ImportError."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from procrastinate import connector, exceptions

try:
    import psycopg2
    import psycopg2.extras
    import psycopg2.pool
    import psycopg2.sql
except ImportError as exc:  # pragma: no cover - depends on the environment
    psycopg2 = None  # type: ignore[assignment]
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

logger = logging.getLogger(__name__)


def require_psycopg2(what: str) -> None:
    if psycopg2 is None:
        raise ImportError(
            f"{what} needs psycopg2: pip install psycopg2-binary (or psycopg2)"
        ) from _IMPORT_ERROR


@contextlib.contextmanager
def wrap_exceptions() -> Iterator[None]:
    """Turn psycopg2 errors into procrastinate exceptions (by SQLSTATE)."""
    try:
        yield
    except psycopg2.Error as exc:
        raise exceptions.from_database_error(exc) from exc


class Psycopg2Adapter:
    """Parameter and result handling shared with the aiopg connector."""

    json_dumps: Callable[[Any], Any] | None

    def _wrap_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return psycopg2.extras.Json(value, dumps=self.json_dumps)
        if isinstance(value, list):
            return [self._wrap_value(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self._wrap_value(item) for item in value)
        return value

    def _parameters(self, arguments: dict[str, Any]) -> dict[str, Any] | None:
        # No arguments: no "%" interpolation, several statements allowed.
        if not arguments:
            return None
        return {key: self._wrap_value(value) for key, value in arguments.items()}


def shape_result(fetch: str, cursor: Any, rows: list[Any] | None) -> Any:
    if fetch == "none":
        return None
    rows = [dict(row) for row in rows or []]
    if fetch == "one":
        return rows[0] if rows else None
    return rows


class Psycopg2Connector(Psycopg2Adapter, connector.BaseConnector):
    """Synchronous connector over ``psycopg2.pool.ThreadedConnectionPool``.

    Keyword arguments go to the pool (defaults: ``minconn=1``,
    ``maxconn=10``, ``dsn=""``, i.e. libpq's environment variables);
    ``conninfo`` is accepted as an alias of ``dsn``.
    """

    def __init__(
        self,
        *,
        json_dumps: Callable[[Any], Any] | None = None,
        json_loads: Callable[[Any], Any] | None = None,
        **kwargs: Any,
    ):
        require_psycopg2("Psycopg2Connector")
        self.json_dumps = json_dumps
        self.json_loads = json_loads
        if "conninfo" in kwargs:
            kwargs["dsn"] = kwargs.pop("conninfo")
        self._pool_args = {"minconn": 1, "maxconn": 10, "dsn": "", **kwargs}
        self._pool: Any = None
        self._pool_externally_set = False

    @property
    def pool(self) -> Any:
        if self._pool is None:
            raise exceptions.AppNotOpen
        return self._pool

    def open(self, pool: Any = None) -> None:
        if self._pool is not None:
            return
        if pool is not None:
            self._pool, self._pool_externally_set = pool, True
            return
        with wrap_exceptions():
            self._pool = psycopg2.pool.ThreadedConnectionPool(**self._pool_args)
        self._pool_externally_set = False

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and not self._pool_externally_set and not pool.closed:
            with wrap_exceptions():
                pool.closeall()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        with wrap_exceptions():
            connection = self.pool.getconn()
        try:
            if self.json_loads is not None:
                psycopg2.extras.register_default_jsonb(
                    connection, loads=self.json_loads
                )
            yield connection
        except BaseException:
            with contextlib.suppress(psycopg2.Error):
                connection.rollback()
            self.pool.putconn(connection, close=bool(connection.closed))
            raise
        else:
            with wrap_exceptions():
                connection.commit()
            self.pool.putconn(connection)

    def _run(
        self, connection: Any, query: str, arguments: dict[str, Any], fetch: str
    ) -> Any:
        with wrap_exceptions():
            with connection.cursor(
                cursor_factory=psycopg2.extras.RealDictCursor
            ) as cursor:
                cursor.execute(query, self._parameters(arguments))
                if fetch == "none" or cursor.description is None:
                    return shape_result(fetch, cursor, None)
                rows = [cursor.fetchone()] if fetch == "one" else cursor.fetchall()
                return shape_result(
                    fetch, cursor, [row for row in rows if row is not None]
                )

    def _execute(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        with self._connection() as connection:
            return self._run(connection, query, arguments, fetch)

    def execute_query(self, query: str, **arguments: Any) -> None:
        return self._execute(query, arguments, "none")

    def execute_query_one(self, query: str, **arguments: Any) -> dict[str, Any] | None:
        return self._execute(query, arguments, "one")

    def execute_query_all(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
        return self._execute(query, arguments, "all")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[connector.ConnectionExecutor]:
        # psycopg2 connections open a transaction at the first query and
        # _connection commits (or rolls back) at the end.
        with self._connection() as connection:
            yield connector.ConnectionExecutor(self, connection)
