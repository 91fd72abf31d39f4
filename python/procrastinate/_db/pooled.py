"""The pool lifecycle shared by the pooled connectors (psycopg 3 sync and
async, psycopg2, aiopg): the pool is the one given to ``open`` or
``open_async`` (left open on close) or one the connector creates. An
asynchronous connector used from synchronous code before ``open_async``
works through a synchronous connector built from the same arguments.
Asynchronous connectors LISTEN on a connection of their own (``_db.listen``)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from procrastinate import connector, exceptions
from procrastinate._db import listen
from procrastinate._db.listen import Ready
from procrastinate.connector import Notify


class Pooled:
    _pool: Any = None
    _pool_externally_set = False

    @property
    def pool(self) -> Any:
        if self._pool is None:
            raise exceptions.AppNotOpen
        return self._pool


class SyncPooled(Pooled, connector.BaseConnector):
    def _create_pool(self) -> Any:
        raise NotImplementedError

    def _close_pool(self, pool: Any) -> None:
        raise NotImplementedError

    def open(self, pool: Any = None) -> None:
        """Create and open the pool, or use ``pool`` (left open on close)."""
        if self._pool is None:
            given = pool is not None
            self._pool = pool if given else self._create_pool()
            self._pool_externally_set = given

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and not self._pool_externally_set:
            self._close_pool(pool)


class AsyncPooled(Pooled, connector.BaseAsyncConnector):
    _sync_connector: connector.BaseConnector | None = None
    #: The errors that end a listening session (it is then started again),
    #: and the longest wait between two attempts.
    _listen_errors: tuple[type[BaseException], ...] = ()
    _max_reconnect_delay = 1.0

    async def _listen_session(self, notify: Notify, channels: list[str], ready: Ready) -> None:
        """A listen.Session, delivering notifications to ``notify``."""
        raise NotImplementedError

    async def _create_pool(self) -> Any:
        raise NotImplementedError

    async def _close_pool(self, pool: Any) -> None:
        raise NotImplementedError

    def _make_sync_connector(self) -> connector.BaseConnector:
        raise NotImplementedError

    def get_sync_connector(self) -> connector.BaseConnector:
        if self._pool is not None and not self._loop_stopped():
            return self
        if self._sync_connector is None:
            self._sync_connector = self._make_sync_connector()
        if self._pool is not None:
            # Opened on a loop that has stopped (an async fixture, then a sync
            # test): synchronous calls go through a pool of their own, as
            # procrastinate 3.x falls back to a synchronous connection.
            self._sync_connector.open()
        return self._sync_connector

    def _loop_stopped(self) -> bool:
        loop = self._loop
        return loop is not None and (loop.is_closed() or not loop.is_running())

    def open(self, pool: Any = None) -> None:
        """Open for synchronous use (the synchronous connector)."""
        if self._pool is None:
            self.get_sync_connector().open(pool)

    def close(self) -> None:
        if self._sync_connector is not None:
            self._sync_connector.close()
            self._sync_connector = None

    async def open_async(self, pool: Any = None) -> None:
        """Create and open the pool, or use ``pool`` (left open on close)."""
        if self._pool is not None:
            return
        if self._sync_connector is not None:
            await asyncio.to_thread(self._sync_connector.close)
            self._sync_connector = None
        given = pool is not None
        self._pool = pool if given else await self._create_pool()
        self._pool_externally_set = given
        self._bind_loop()

    async def close_async(self) -> None:
        """Close the pool (unless it was given to open_async), and the
        synchronous one made after its loop stopped."""
        pool, self._pool = self._pool, None
        # a pool of a closed loop cannot be closed any more: dropped
        stale = self._loop is not None and self._loop.is_closed()
        self._unbind_loop()
        if pool is not None and not self._pool_externally_set and not stale:
            await self._close_pool(pool)
        if self._sync_connector is not None:
            await asyncio.to_thread(self._sync_connector.close)
            self._sync_connector = None

    async def listen_notify(
        self,
        on_notification: Notify,
        channels: Iterable[str],
        *,
        on_listening: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        """LISTEN to ``channels`` on a dedicated connection and await
        ``on_notification(channel=..., payload=...)`` for each notification,
        until cancelled. A lost connection (terminated backend, server
        restart, half-open socket caught by the keepalive deadline) is closed
        and re-established with backoff; notifications sent meanwhile are
        lost: ``on_listening`` is called each time LISTEN is in place, so the
        caller can catch up."""
        await listen.keep_listening(
            functools.partial(self._listen_session, on_notification, list(channels)),
            on_listening,
            errors=self._listen_errors,
            max_delay=self._max_reconnect_delay,
        )
