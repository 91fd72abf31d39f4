"""The connectors of the conformance suite (see conftest.py) and helpers of
its tests."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable
from typing import Any

from procrastinate import exceptions

#: Set in the pytest process that runs the suite on the Django connector.
IN_DJANGO_PROCESS = os.environ.get("PROCRASTINATE_CONFORMANCE_DJANGO") == "1"


@dataclasses.dataclass(frozen=True)
class Kind:
    """A connector and what it documents it can do."""

    name: str
    #: Its pool lives on the event loop: open_async / close_async.
    on_the_loop: bool
    #: It has the ``_async`` query methods (else they raise
    #: SyncConnectorConfigurationError: a synchronous connector).
    async_forms: bool
    sync_transaction: bool
    async_transaction: bool
    #: None: it listens. Else the exception it raises instead, and what its
    #: message says (the documented limitation).
    listen_refusal: type[Exception] | None = None
    listen_refusal_says: str = ""
    #: A connector closed stays usable (its library owns the connections).
    usable_when_closed: bool = False


SYNC_ONLY = "needs an asynchronous connector"
KINDS = {
    "psycopg": Kind(
        "psycopg",
        on_the_loop=True,
        async_forms=True,
        sync_transaction=False,
        async_transaction=True,
    ),
    "sync_psycopg": Kind(
        "sync_psycopg",
        on_the_loop=False,
        async_forms=False,
        sync_transaction=True,
        async_transaction=False,
        listen_refusal=exceptions.SyncConnectorConfigurationError,
        listen_refusal_says=SYNC_ONLY,
    ),
    "aiopg": Kind(
        "aiopg",
        on_the_loop=True,
        async_forms=True,
        sync_transaction=False,
        async_transaction=True,
    ),
    "psycopg2": Kind(
        "psycopg2",
        on_the_loop=False,
        async_forms=False,
        sync_transaction=True,
        async_transaction=False,
        listen_refusal=exceptions.SyncConnectorConfigurationError,
        listen_refusal_says=SYNC_ONLY,
    ),
    # Documented in contrib/django/django_connector.py: no pool, no LISTEN
    # (workers use get_worker_connector(), a PsycopgConnector).
    "django": Kind(
        "django",
        on_the_loop=False,
        async_forms=True,
        sync_transaction=True,
        async_transaction=True,
        listen_refusal=exceptions.ConnectorException,
        listen_refusal_says="DjangoConnector cannot LISTEN",
        usable_when_closed=True,
    ),
}
KIND_NAMES = ["django"] if IN_DJANGO_PROCESS else [n for n in KINDS if n != "django"]


async def open_connector(kind: Kind, connector: Any) -> None:
    if kind.on_the_loop:
        await connector.open_async()
    else:
        await asyncio.to_thread(connector.open)


async def close_connector(kind: Kind, connector: Any) -> None:
    if kind.on_the_loop:
        await connector.close_async()
    else:
        await asyncio.to_thread(connector.close)


@dataclasses.dataclass
class Queries:
    """One form of a connector's query methods, awaited either way: the
    synchronous ones run in a thread (as synchronous code calls them, out of
    the event loop), the ``_async`` ones on the loop."""

    form: str
    connector: Any

    async def _call(self, name: str, query: str, arguments: dict[str, Any]) -> Any:
        if self.form == "async":
            return await getattr(self.connector, f"{name}_async")(query, **arguments)
        return await asyncio.to_thread(
            getattr(self.connector, name), query, **arguments
        )

    async def execute(self, query: str, **arguments: Any) -> None:
        return await self._call("execute_query", query, arguments)

    async def one(self, query: str, **arguments: Any) -> dict[str, Any] | None:
        return await self._call("execute_query_one", query, arguments)

    async def all(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
        return await self._call("execute_query_all", query, arguments)


async def in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a synchronous API as synchronous code does: off the event loop."""
    return await asyncio.to_thread(function, *args, **kwargs)
