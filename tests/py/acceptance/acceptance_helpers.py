"""Helpers of the acceptance tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(predicate: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something true (fails after timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


def release(db: Any, tag: str) -> None:
    """End the ``hold`` jobs of ``tag`` (acceptance_app.hold)."""
    db.execute(
        "insert into acceptance_runs (job_id, task, tag, started_at) "
        "values (0, 'release', %s, clock_timestamp())",
        [tag],
    )
