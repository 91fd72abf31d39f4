"""Waiting for a condition without guessing a delay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

TIMEOUT = 30  # seconds: a condition that takes longer fails the test


async def poll(predicate: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    """Check ``predicate`` until it returns something true (returned), failing
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
    return value



def server_is_older_than(db: Any, seconds: float) -> bool:
    """Whether the server started more than ``seconds`` ago: a lease never
    runs out less than a lease after the server started (docs/reliability.md),
    and a fresh test server may be younger than a dead worker's lease.
    ``db``: a psycopg connection with dict rows."""
    query = "select pg_postmaster_start_time() < now() - make_interval(secs => %s) as old"
    return bool(db.execute(query, [seconds]).fetchone()["old"])


def wait_until_server_is_older_than(db: Any, seconds: float, timeout: float = TIMEOUT) -> None:
    """server_is_older_than, waited for in synchronous code."""
    deadline = time.monotonic() + timeout
    while not server_is_older_than(db, seconds):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for the server to be {seconds} s old")
        time.sleep(0.05)
