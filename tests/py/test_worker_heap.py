"""The worker keeps the objects alive at its start out of garbage
collections while it runs (worker/heap.py), and gives them back after."""

from __future__ import annotations

import asyncio
import gc

import pytest

from polling import poll


@pytest.fixture
def freeze_counts(app):
    """The number of frozen objects each run of the task saw."""
    seen: list[int] = []

    @app.task(name="count_frozen")
    def count_frozen() -> None:
        seen.append(gc.get_freeze_count())

    return seen


async def test_a_running_worker_freezes_the_objects_alive_at_its_start(app, freeze_counts):
    assert gc.get_freeze_count() == 0
    await app.configure_task("count_frozen").defer_async()
    await app.run_worker_async(wait=False, install_signal_handlers=False)
    # this module, the app and the test run are among them
    assert freeze_counts[0] > 1000
    assert gc.get_freeze_count() == 0


async def test_freeze_gc_false_leaves_the_collector_alone(app, freeze_counts):
    await app.configure_task("count_frozen").defer_async()
    await app.run_worker_async(wait=False, install_signal_handlers=False, freeze_gc=False)
    assert freeze_counts == [0]


async def test_the_heap_stays_frozen_until_the_last_worker_of_the_process_stops(app, freeze_counts):
    await app.configure_task("count_frozen").defer_async()
    # a worker that waits: running while a second one runs and stops
    first = app._worker(wait=True, install_signal_handlers=False, queues=["other"])
    running = asyncio.create_task(first.run())
    await poll(lambda: gc.get_freeze_count() > 0, "the first worker running")
    await app.run_worker_async(wait=False, install_signal_handlers=False)
    assert freeze_counts[0] > 1000
    assert gc.get_freeze_count() > 0  # the first worker still runs
    first.stop()
    await running
    assert gc.get_freeze_count() == 0
