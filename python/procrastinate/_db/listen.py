"""LISTEN on a connection of its own, reconnecting when it is lost: the loop
shared by the asynchronous connectors (psycopg 3 and aiopg)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger("procrastinate.connector")

#: Called once LISTEN is in place.
Ready = Callable[[], Awaitable[None]]
#: Connects, LISTENs, awaits its Ready, then receives until the connection
#: fails; closes its connection on the way out.
Session = Callable[[Ready], Awaitable[None]]


async def keep_listening(
    session: Session,
    on_listening: Callable[[], Awaitable[None] | None] | None,
    *,
    errors: tuple[type[BaseException], ...],
    max_delay: float,
) -> None:
    """Run ``session`` again and again, with a backoff of at most
    ``max_delay`` seconds, until cancelled. Notifications sent while no
    LISTEN is in place are lost: ``on_listening`` is called each time one
    is, so the caller can catch up."""
    delay = 1.0
    lost_since: float | None = None

    async def listening() -> None:
        nonlocal delay, lost_since
        delay = 1.0
        if lost_since is not None:
            logger.warning(
                "Listening again for notifications, "
                f"{time.monotonic() - lost_since:.1f} s after the connection was lost",
                extra={"action": "listen_connection_restored"},
            )
            lost_since = None
        if on_listening is not None:
            result = on_listening()
            if inspect.isawaitable(result):
                await result

    while True:
        try:
            await session(listening)
        except errors as exc:
            if lost_since is None:
                lost_since = time.monotonic()
            logger.warning(
                f"Listening connection lost ({exc!r}); reconnecting in {delay:.0f} s",
                extra={"action": "listen_connection_lost"},
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)


async def deliver(on_notification: Any, notification: Any) -> None:
    """Hand a notification to the handler; its failure is logged, not fatal."""
    try:
        await on_notification(channel=notification.channel, payload=notification.payload)
    except Exception:
        logger.exception(
            "Error while handling a notification",
            extra={"action": "notification_handler_error"},
        )
