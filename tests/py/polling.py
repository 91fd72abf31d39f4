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
