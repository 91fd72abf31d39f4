"""The worker: fetch jobs, run them, report how they ended (one module per
part, around one shared state; docs/architecture.md draws them)."""

from __future__ import annotations

from procrastinate.worker.coordinator import (
    ABORT_JOB_POLLING_INTERVAL,
    DATABASE_TIMEOUT,
    FETCH_JOB_POLLING_INTERVAL,
    MAX_DEFAULT_PREFETCH,
    PREFETCH_PER_SLOT,
    WORKER_CONCURRENCY,
    WORKER_NAME,
    AbortReason,
    Worker,
)

__all__ = [
    "ABORT_JOB_POLLING_INTERVAL",
    "DATABASE_TIMEOUT",
    "FETCH_JOB_POLLING_INTERVAL",
    "MAX_DEFAULT_PREFETCH",
    "PREFETCH_PER_SLOT",
    "WORKER_CONCURRENCY",
    "WORKER_NAME",
    "AbortReason",
    "Worker",
]
