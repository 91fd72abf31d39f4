"""DjangoConnector: the driver's queries on Django's own database connection.

A job deferred inside ``transaction.atomic()`` is written by the same
connection, in the same transaction: it exists only if that transaction
commits (and workers are notified at commit). Inside a transaction each query
runs in a savepoint, so a refused defer (AlreadyEnqueued) can be caught
without breaking the surrounding transaction.

It is a ``BaseAsyncConnector``, as procrastinate 3.x's: its ``_async``
methods run the query on Django's connection through
``asgiref.sync.sync_to_async`` (in the thread where Django's async ORM runs
too), its synchronous ones on the calling thread's connection, whether or not
it was opened (there is nothing to open). ``get_sync_connector()`` is its
synchronous side, what synchronous operations of the driver run on.

This connector has no pool and cannot LISTEN: workers use
``get_worker_connector()``, a PsycopgConnector built from the same DATABASES
entry (``manage.py procrastinate worker`` does that).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from procrastinate import connector, exceptions

# Django loads json and jsonb columns as text (its JSONField decodes them).
_JSON_TYPE_OIDS = frozenset({114, 3802})


class DjangoConnector(connector.BaseAsyncConnector):
    """Runs queries on ``django.db.connections[alias]``: the ``_async`` forms
    through ``asgiref.sync.sync_to_async`` (thread-sensitive: in the thread
    where Django's async ORM runs too), the synchronous ones on the calling
    thread's connection."""

    def __init__(
        self,
        alias: str = "default",
        *,
        json_dumps: Callable[[Any], Any] | None = None,
        json_loads: Callable[[Any], Any] | None = None,
    ):
        self.alias = alias
        self.json_dumps = json_dumps
        self.json_loads = json_loads
        self._sync_side = _SyncSide(self)

    def get_sync_connector(self) -> connector.BaseConnector:
        """The synchronous side: the same queries on the calling thread's
        Django connection (never through an event loop, unlike the pooled
        async connectors: Django's connection is per thread, not per loop)."""
        return self._sync_side

    @property
    def connection(self) -> Any:
        """Django's connection wrapper (per thread)."""
        from django.db import connections

        return connections[self.alias]

    # --- lifecycle: Django opens and closes its connections -------------------------

    def open(self, pool: Any = None) -> None:
        _refuse_pool(pool)

    def close(self) -> None:
        pass

    async def open_async(self, pool: Any = None) -> None:
        _refuse_pool(pool)

    async def close_async(self) -> None:
        pass

    # --- queries -------------------------------------------------------------------------

    def _rows(self, cursor: Any) -> list[dict[str, Any]]:
        loads = self.json_loads or json.loads
        columns = [(column[0], column[1] in _JSON_TYPE_OIDS) for column in cursor.description]
        return [
            {
                name: loads(value) if is_json and isinstance(value, (str, bytes)) else value
                for (name, is_json), value in zip(columns, values, strict=True)
            }
            for values in cursor.fetchall()
        ]

    @contextlib.contextmanager
    def _statement(self) -> Iterator[None]:
        """Django errors become procrastinate exceptions; inside a transaction
        the statement gets a savepoint, so that its failure leaves the
        transaction usable."""
        from django import db

        connection = self.connection
        savepoint = (
            db.transaction.atomic(using=self.alias)
            if connection.in_atomic_block
            else contextlib.nullcontext()
        )
        try:
            with savepoint:
                yield
        except db.Error as exc:
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            exceptions.raise_database_error(cause, exc)

    def _query(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        # The synchronous query methods: on this thread's connection, opened
        # or not (BaseAsyncConnector's would go through an event loop).
        with self._statement(), self.connection.cursor() as cursor:
            cursor.execute(query, self._parameters(arguments))
            if fetch == "none" or cursor.description is None:
                return connector.no_rows(fetch)
            rows = self._rows(cursor)
            return (rows[0] if rows else None) if fetch == "one" else rows

    @contextlib.contextmanager
    def transaction(self) -> Iterator[DjangoConnector]:
        from django.db import transaction

        with transaction.atomic(using=self.alias):
            yield self

    async def _execute(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        return await _in_django_thread(self._query, query, arguments, fetch)

    @contextlib.asynccontextmanager
    async def transaction_async(self) -> AsyncIterator[DjangoConnector]:
        # Thread-sensitive sync_to_async calls all run in one thread: the
        # atomic block and the queries share that thread's connection.
        from django.db import transaction

        atomic = transaction.atomic(using=self.alias)
        await _in_django_thread(atomic.__enter__)
        try:
            yield self
        except BaseException as exc:
            await _in_django_thread(atomic.__exit__, type(exc), exc, exc.__traceback__)
            raise
        await _in_django_thread(atomic.__exit__, None, None, None)

    async def listen_notify(
        self, on_notification: connector.Notify, channels: Iterable[str], **kwargs: Any
    ) -> None:
        raise exceptions.ConnectorException(
            "DjangoConnector cannot LISTEN: run workers with get_worker_connector() "
            "(manage.py procrastinate worker does), or with listen_notify=False"
        )

    # --- the worker's connector ---------------------------------------------------------

    def get_worker_connector(self, **pool_kwargs: Any) -> connector.BaseAsyncConnector:
        """A PsycopgConnector (a pool, with LISTEN) on the same DATABASES
        entry, for workers. ``pool_kwargs`` go to the pool (min_size, ...)."""
        from procrastinate import psycopg_connector
        from procrastinate.contrib.django import utils

        return psycopg_connector.PsycopgConnector(
            json_dumps=self.json_dumps,
            json_loads=self.json_loads,
            kwargs=utils.connector_params(self.alias),
            **pool_kwargs,
        )


class _SyncSide(connector.BaseConnector):
    """DjangoConnector.get_sync_connector(): a synchronous connector (no
    ``run_sync``), whose queries and transactions are its owner's, on the
    calling thread's Django connection."""

    def __init__(self, owner: DjangoConnector):
        self._owner = owner

    @property
    def alias(self) -> str:
        return self._owner.alias

    @property
    def connection(self) -> Any:
        return self._owner.connection

    def dump_json(self, value: Any) -> str:
        return self._owner.dump_json(value)

    def _query(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        return self._owner._query(query, arguments, fetch)

    def transaction(self) -> contextlib.AbstractContextManager[DjangoConnector]:
        return self._owner.transaction()

    def open(self, pool: Any = None) -> None:
        self._owner.open(pool)

    def close(self) -> None:
        self._owner.close()


def _refuse_pool(pool: Any) -> None:
    if pool is not None:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("DjangoConnector uses Django's connection: no pool")


async def _in_django_thread(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    from asgiref.sync import sync_to_async

    return await sync_to_async(func, thread_sensitive=True)(*args, **kwargs)
