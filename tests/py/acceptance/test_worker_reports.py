"""Reports that always get through (issue 14, item 4): a batch that fails is
sent again in halves, the worker fetches nothing while reports fail, and an
outcome the database refuses for good is let go after a few tries.

The database is real; only ``finish_jobs_async`` is wrapped, to fail the way
a low statement_timeout or a missing right makes it fail. (That the worker
fetches nothing while reports fail is shown by the chaos suite's
statement_timeout cell.)"""

from __future__ import annotations

import asyncio
import logging

from procrastinate import exceptions
from procrastinate.worker import reporter as worker_reporter

from worker_helpers import one_shot, statuses


def _error(message: str, sqlstate: str) -> exceptions.ConnectorException:
    error = exceptions.ConnectorException(message)
    error.sqlstate = sqlstate  # type: ignore[attr-defined]
    return error


async def test_a_failing_batch_is_sent_again_in_halves(app, db, monkeypatch):
    manager = app.job_manager
    real_finish = manager.finish_jobs_async
    calls: list[tuple[int, bool]] = []  # (outcomes sent, passed)

    async def finish(worker_id, outcomes, *args, **kwargs):
        # The first call fails (a lost connection): every other job ends
        # meanwhile and the next batch is big; more than 2 outcomes at
        # once "time out".
        if not calls or len(outcomes) > 2:
            calls.append((len(outcomes), False))
            raise _error("canceling statement due to statement timeout", "57014")
        calls.append((len(outcomes), True))
        return await real_finish(worker_id, outcomes, *args, **kwargs)

    monkeypatch.setattr(manager, "finish_jobs_async", finish)

    @app.task(name="short")
    async def short():
        await asyncio.sleep(0.01)

    for _ in range(8):
        await short.defer_async()
    await one_shot(app, concurrency=8)

    assert statuses(db) == [(i, "succeeded") for i in range(1, 9)]
    sizes = [size for size, _ in calls]
    big = max(sizes)
    assert big > 2, calls  # a batch too big to pass was formed...
    failed_big = sizes.index(big)
    # ...and sent again in halves until they passed, the size kept small
    # until the backlog was sent (no failing call after the first success)
    assert sizes[failed_big + 1] == big // 2, calls
    assert all(size <= 2 for size, passed in calls if passed), calls
    first_pass = [passed for _, passed in calls].index(True)
    assert all(passed for _, passed in calls[first_pass:]), calls


async def test_an_outcome_refused_for_good_is_let_go(app, db, caplog, monkeypatch):
    manager = app.job_manager
    refusals = []

    async def finish(*args, **kwargs):
        refusals.append(1)
        raise _error("permission denied for function procrastinate_finish_jobs_v1", "42501")

    monkeypatch.setattr(manager, "finish_jobs_async", finish)

    @app.task(name="refused")
    def refused():
        return 1

    (job_id,) = [await refused.defer_async()]
    await one_shot(app)

    # Sent three times, then let go: the worker stopped (wait=False) and
    # unregistering gave the job back to the queue, its run counted.
    assert len(refusals) == 3
    row = db.execute(
        "select status::text as status, attempts from procrastinate_jobs where id = %s",
        [job_id],
    ).fetchone()
    assert (row["status"], row["attempts"]) == ("todo", 1)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"job(s) [{job_id}] are let go after 3 refusals" in m for m in errors), errors


async def test_outcomes_are_sent_as_soon_as_the_database_is_back(app, db, monkeypatch):
    # A report lost with the connection waits its retry delay, here a
    # minute; the heartbeat that finds the database back cuts it short (the
    # worker fetches nothing while outcomes wait, so a long wait there is a
    # worker idle after the outage).
    monkeypatch.setattr(worker_reporter, "RETRY_DELAY", 60.0)
    manager = app.job_manager
    real_finish = manager.finish_jobs_async
    failures = []

    async def finish(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise exceptions.ConnectorException("server closed the connection unexpectedly")
        return await real_finish(*args, **kwargs)

    monkeypatch.setattr(manager, "finish_jobs_async", finish)

    @app.task(name="short")
    def short():
        return 1

    for _ in range(2):
        await short.defer_async()
    await asyncio.wait_for(one_shot(app, update_heartbeat_interval=0.1), timeout=20)

    assert failures == [1]
    assert statuses(db) == [(1, "succeeded"), (2, "succeeded")]
