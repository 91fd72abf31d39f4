"""SQLAlchemyPsycopg2Connector: procrastinate 3.x's synchronous connector for
applications that already have a SQLAlchemy engine (psycopg2 driver): the
queries run on connections of the engine's pool, through the psycopg2
connector's code. SQLAlchemy is optional: this module imports without it,
and building the connector then raises ImportError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from procrastinate import exceptions
from procrastinate.contrib.psycopg2 import psycopg2_connector

try:
    import sqlalchemy
except ImportError as exc:  # pragma: no cover - depends on the environment
    sqlalchemy = None  # type: ignore[assignment]
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None


class SQLAlchemyPsycopg2Connector(psycopg2_connector.Psycopg2Connector):
    """Synchronous connector over a SQLAlchemy engine using psycopg2.

    ``open()`` creates the engine from ``dsn`` (a SQLAlchemy URL,
    ``postgresql+psycopg2://...``) and the other keyword arguments
    (``sqlalchemy.create_engine``'s); ``open(engine)`` uses yours (left
    open on close). ``connection=`` (procrastinate 3.10's external
    connection) takes a ``sqlalchemy.engine.Connection`` of such an engine.
    """

    def __init__(
        self,
        *,
        dsn: str = "postgresql+psycopg2://",
        json_dumps: Callable[[Any], Any] | None = None,
        json_loads: Callable[[Any], Any] | None = None,
        **kwargs: Any,
    ):
        if sqlalchemy is None:
            raise ImportError(
                "SQLAlchemyPsycopg2Connector needs SQLAlchemy: pip install sqlalchemy"
            ) from _IMPORT_ERROR
        psycopg2_connector.require_psycopg2("SQLAlchemyPsycopg2Connector")
        self.json_dumps = json_dumps
        self.json_loads = json_loads
        self._engine_args = {"url": dsn, **kwargs}

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine (AppNotOpen before ``open``)."""
        return self.pool

    def _create_pool(self) -> Any:
        engine = sqlalchemy.create_engine(**self._engine_args)
        if engine.dialect.driver != "psycopg2":
            engine.dispose()
            raise exceptions.ConnectorException(
                f"SQLAlchemyPsycopg2Connector needs the psycopg2 driver, not "
                f"{engine.dialect.driver!r}: use a postgresql+psycopg2:// URL"
            )
        return engine

    def _close_pool(self, pool: Any) -> None:
        pool.dispose()

    def _checkout(self) -> tuple[Any, Any]:
        proxied = self.engine.raw_connection()
        return proxied, proxied.dbapi_connection

    def _checkin(self, handle: Any, connection: Any) -> None:
        handle.close()  # back to the engine's pool

    def _run(self, connection: Any, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        if isinstance(connection, sqlalchemy.engine.Connection):
            # the caller's: the query joins its transaction, begun here if it
            # was not, so that its commit() (or rollback()) covers the query
            if not connection.in_transaction():
                connection.begin()
            connection = connection.connection.dbapi_connection
        return super()._run(connection, query, arguments, fetch)
