"""Psycopg2Connector: a synchronous connector over psycopg2's
ThreadedConnectionPool. psycopg2 is optional: this module imports without it,
and building the connector then raises ImportError."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from procrastinate import connector
from procrastinate._db import pooled

try:
    import psycopg2
    import psycopg2.extras
    import psycopg2.pool
except ImportError as exc:  # pragma: no cover - depends on the environment
    psycopg2 = None  # type: ignore[assignment]
    _IMPORT_ERROR: ImportError | None = exc
    CURSOR = None
else:
    _IMPORT_ERROR = None
    CURSOR = psycopg2.extras.RealDictCursor


def require_psycopg2(what: str) -> None:
    if psycopg2 is None:
        raise ImportError(
            f"{what} needs psycopg2: pip install psycopg2-binary (or psycopg2)"
        ) from _IMPORT_ERROR


def wrap_exceptions() -> contextlib.AbstractContextManager[None]:
    return connector.database_errors(psycopg2.Error)


class Psycopg2Adapter:
    """Parameter and result handling shared with the aiopg connector."""

    json_dumps: Callable[[Any], Any] | None

    def _json_parameter(self, value: dict[str, Any]) -> Any:
        return psycopg2.extras.Json(value, dumps=self.json_dumps)


def shape_result(fetch: str, rows: list[Any]) -> Any:
    """RealDictRows (or None from fetchone) as dicts: the first or all."""
    rows = [dict(row) for row in rows if row is not None]
    return (rows[0] if rows else None) if fetch == "one" else rows


class Psycopg2Connector(Psycopg2Adapter, pooled.SyncPooled):
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

    def _create_pool(self) -> Any:
        with wrap_exceptions():
            return psycopg2.pool.ThreadedConnectionPool(**self._pool_args)

    def _close_pool(self, pool: Any) -> None:
        if not pool.closed:
            with wrap_exceptions():
                pool.closeall()

    def _checkout(self) -> tuple[Any, Any]:
        """A connection of the pool: (what gives it back, the psycopg2 connection)."""
        connection = self.pool.getconn()
        return connection, connection

    def _checkin(self, handle: Any, connection: Any) -> None:
        self.pool.putconn(connection, close=bool(connection.closed))

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        """A connection for one transaction: committed after, rolled back on
        an error, given back to the pool either way."""
        with wrap_exceptions():
            handle, connection = self._checkout()
        try:
            if self.json_loads is not None:
                psycopg2.extras.register_default_jsonb(connection, loads=self.json_loads)
            yield connection
        except BaseException:
            with contextlib.suppress(psycopg2.Error):
                connection.rollback()
            self._checkin(handle, connection)
            raise
        else:
            with wrap_exceptions():
                connection.commit()
            self._checkin(handle, connection)

    def _run(self, connection: Any, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        with wrap_exceptions(), connection.cursor(cursor_factory=CURSOR) as cursor:
            cursor.execute(query, self._parameters(arguments))
            if fetch == "none" or cursor.description is None:
                return connector.no_rows(fetch)
            return shape_result(fetch, [cursor.fetchone()] if fetch == "one" else cursor.fetchall())

    def _query(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        with self._connection() as connection:
            return self._run(connection, query, arguments, fetch)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[connector.ConnectionExecutor]:
        # psycopg2 connections open a transaction at the first query and
        # _connection commits (or rolls back) at the end.
        with self._connection() as connection:
            yield connector.ConnectionExecutor(self, connection)
