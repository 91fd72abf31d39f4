"""Waiting for jobs through the faults workers survive (docs/results.md):
jobs waited for from another process while the worker running them is
killed (they are rescued and run by another worker) and while PostgreSQL
restarts under the waiter's listening connection. Every wait still ends
with the job's result."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import procrastinate

import pg_server
from chaos_harness import Chaos, check_every_job_succeeded


def wait_in_a_thread(dsn: str, ids: list[int], into: dict[str, Any]) -> threading.Thread:
    """Another client, waiting for every job on its own loop and pool."""

    async def wait() -> list[Any]:
        app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=dsn + " application_name=chaos_waiter", min_size=1, max_size=2
            )
        )
        async with app.open_async():
            into["listening"] = True
            return await app.job_manager.wait_for_jobs_async(ids, timeout=120)

    def run() -> None:
        try:
            into["ends"] = asyncio.run(wait())
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            into["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def waiter_listens(chaos: Chaos) -> bool:
    rows = chaos.query(
        "select count(*) as n from pg_stat_activity "
        "where application_name = 'chaos_waiter' and query ilike 'listen%%'"
    )
    return rows[0]["n"] == 1


def test_waiters_get_the_results_through_a_worker_kill_and_a_server_restart(
    chaos: Chaos, record_property
):
    jobs = [
        {"task_name": "echo", "args": {"value": n, "seconds": 0.6}, "store_result": True}
        for n in range(60)
    ]
    ids = chaos.defer_jobs(jobs)
    got: dict[str, Any] = {}
    thread = wait_in_a_thread(chaos.dsn, ids, got)
    deadline = time.monotonic() + 30
    while not waiter_listens(chaos):
        assert time.monotonic() < deadline, f"the waiter never listened: {got}"
        time.sleep(0.05)

    first = chaos.start_worker()
    chaos.start_worker()
    chaos.wait_registered(2)
    chaos.wait_busy([first])
    chaos.kill(first)  # its jobs are rescued and run by the other worker
    chaos.start_worker()
    pg_server.restart()  # under the waiter's listening connection, and the workers'

    thread.join(150)
    assert not thread.is_alive(), "the waits did not end"
    assert "error" not in got, got.get("error")
    ends = got["ends"]
    assert [end.value() for end in ends] == [{"value": n} for n in range(60)], ends
    summary = chaos.report(record_property)
    chaos.stop_all()
    check_every_job_succeeded(summary)
