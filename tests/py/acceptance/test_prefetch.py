"""The worker's prefetch buffer (worker.prefetch), in-process, against a real
database: while jobs are short, a worker claims jobs ahead of its free slots
(``doing``, held by it, not started); it gives back those it never started
when it stops, and cancels one whose abort is requested.

The scenario of most tests: a worker of concurrency 1 runs a few quick jobs
(so that it knows they are short), then a job that blocks on an event while
more jobs are queued; what the worker claimed is read from the database."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest

import procrastinate
from procrastinate import worker
from procrastinate.worker import prefetch as worker_prefetch

from worker_helpers import TIMEOUT, Running, finish, job_row, one_shot, statuses, wait_for

#: How long the tests that check that nothing is claimed ahead watch the
#: database. A worker that claims ahead does so within milliseconds of the
#: notification (and the fetch polling interval below is far shorter).
WATCH_SECONDS = 0.5
POLLING = 0.05  # fetch_job_polling_interval of the workers
QUEUED = 5  # jobs queued behind the blocking one


def every_job_ended(db: psycopg.Connection) -> bool:
    """No job waits or runs. (No job in doing alone is not enough: between a
    job's report and the next fetch, the next ones are still todo.)"""
    return not db.execute(
        "select 1 from procrastinate_jobs where status in ('todo', 'doing') limit 1"
    ).fetchone()


def doing(db: psycopg.Connection, worker_id: int | None = None) -> list[int]:
    """Ids of the jobs in ``doing`` (held by ``worker_id``, if given)."""
    rows = db.execute(
        "select id from procrastinate_jobs where status = 'doing' "
        "and (%(w)s::bigint is null or worker_id = %(w)s::bigint) order by id",
        {"w": worker_id},
    ).fetchall()
    return [row["id"] for row in rows]


async def most_doing_during(db: psycopg.Connection, seconds: float) -> int:
    """The largest number of jobs seen in ``doing`` while watching."""
    most = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        most = max(most, len(doing(db)))
        await asyncio.sleep(0.01)
    return most


class Tasks:
    """The tasks of the scenario; ``calls`` records every run, in order."""

    def __init__(self, app: procrastinate.App):
        self.app = app
        self.calls: list[str] = []
        self.blocker_started = asyncio.Event()
        self.unblock = asyncio.Event()
        calls = self.calls

        @app.task(name="quick")
        async def quick(tag: str) -> None:
            calls.append(tag)

        @app.task(name="slow")
        async def slow(tag: str) -> None:
            await asyncio.sleep(2 * worker_prefetch.SHORT_JOB_SECONDS)
            calls.append(tag)

        @app.task(name="blocker")
        async def blocker() -> None:
            self.blocker_started.set()
            await asyncio.wait_for(self.unblock.wait(), TIMEOUT)
            calls.append("blocker")

        self.quick, self.slow, self.blocker = quick, slow, blocker

    async def warm_up(self, db: psycopg.Connection, task: Any = None, count: int = 3) -> None:
        """Run ``count`` jobs of ``task`` (quick by default) to the end: the
        worker then knows how long its jobs last."""
        task = task or self.quick
        ids = await task.batch_defer_async(*({"tag": f"warm{i}"} for i in range(count)))
        await wait_for(
            lambda: all(job_row(db, i)["status"] == "succeeded" for i in ids), "warm-up jobs"
        )

    async def block(self) -> int:
        """Defer the blocking job and wait until it runs; returns its id."""
        job_id = await self.blocker.defer_async()
        await asyncio.wait_for(self.blocker_started.wait(), TIMEOUT)
        return job_id

    async def queue(self, count: int = QUEUED, prefix: str = "q") -> dict[int, str]:
        """Defer ``count`` quick jobs; returns their tags by id."""
        tags = [f"{prefix}{i}" for i in range(count)]
        ids = await self.quick.batch_defer_async(*({"tag": tag} for tag in tags))
        return dict(zip(ids, tags, strict=True))

    def ran(self, tag: str) -> int:
        return self.calls.count(tag)


@pytest.fixture
def tasks(app: procrastinate.App) -> Tasks:
    return Tasks(app)


def assert_given_back(db: psycopg.Connection, job_ids: Any) -> None:
    """These jobs wait in the queue as if never fetched."""
    for job_id in job_ids:
        job = job_row(db, job_id)
        assert (job["status"], job["attempts"], job["worker_id"], job["started_at"]) == (
            "todo", 0, None, None
        ), job


# --- claiming ahead ---------------------------------------------------------------------


async def test_short_jobs_are_claimed_ahead_of_free_slots(app, db, tasks):
    running = Running(app, concurrency=1, fetch_job_polling_interval=POLLING)
    await tasks.warm_up(db)
    blocker_id = await tasks.block()
    queued = await tasks.queue()

    # Every queued job is claimed by the worker while its only slot is busy.
    await wait_for(
        lambda: len(doing(db, running.worker_id)) == 1 + QUEUED, "the jobs claimed ahead"
    )
    assert doing(db, running.worker_id) == [blocker_id, *queued]
    assert not any(tasks.ran(tag) for tag in queued.values())  # claimed, not started
    for job_id in queued:
        job = job_row(db, job_id)
        assert (job["worker_id"], job["attempts"]) == (running.worker_id, 0)

    tasks.unblock.set()
    await wait_for(lambda: every_job_ended(db), "every job ended")
    await running.stop()

    assert all(status == "succeeded" for _, status in statuses(db))
    assert [tasks.ran(tag) for tag in ["blocker", *queued.values()]] == [1] * (1 + QUEUED)
    # In fetch order: priority, then id.
    assert tasks.calls[-QUEUED:] == list(queued.values())
    assert all(job_row(db, job_id)["attempts"] == 1 for job_id in queued)


@pytest.mark.parametrize(
    "case", ["prefetch=0", "long jobs"], ids=["prefetch_zero", "long_jobs"]
)
async def test_no_job_is_claimed_ahead_with_prefetch_zero_or_long_jobs(app, db, tasks, case):
    options = {"prefetch": 0} if case == "prefetch=0" else {}
    running = Running(app, concurrency=1, fetch_job_polling_interval=POLLING, **options)
    await tasks.warm_up(db, task=tasks.slow if case == "long jobs" else None)
    blocker_id = await tasks.block()
    queued = await tasks.queue()

    assert await most_doing_during(db, WATCH_SECONDS) == 1
    assert doing(db) == [blocker_id]

    tasks.unblock.set()
    await wait_for(lambda: every_job_ended(db), "every job ended")
    await running.stop()
    assert all(status == "succeeded" for _, status in statuses(db))
    assert [tasks.ran(tag) for tag in queued.values()] == [1] * QUEUED


async def test_nothing_is_claimed_ahead_before_a_job_ended(app, db, tasks):
    running = Running(app, concurrency=1, fetch_job_polling_interval=POLLING)
    blocker_id = await tasks.block()  # the first job: durations are unknown
    await tasks.queue()

    assert await most_doing_during(db, WATCH_SECONDS) == 1
    assert doing(db) == [blocker_id]

    tasks.unblock.set()
    await wait_for(lambda: every_job_ended(db), "every job ended")
    await running.stop()
    assert all(status == "succeeded" for _, status in statuses(db))


async def test_one_shot_worker_runs_every_job_once_with_prefetch(app, db, tasks):
    count = 40
    queued = await tasks.queue(count)
    await one_shot(app, concurrency=2, prefetch=7)

    assert statuses(db) == [(job_id, "succeeded") for job_id in queued]
    assert sorted(tasks.calls) == sorted(queued.values())
    assert all(job_row(db, job_id)["attempts"] == 1 for job_id in queued)


# --- giving back ------------------------------------------------------------------------


async def test_graceful_stop_gives_back_claimed_jobs_and_finishes_the_running_one(
    app, db, tasks
):
    running = Running(app, concurrency=1, fetch_job_polling_interval=POLLING)
    await tasks.warm_up(db)
    blocker_id = await tasks.block()
    queued = await tasks.queue()
    await wait_for(lambda: len(doing(db, running.worker_id)) == 1 + QUEUED, "claimed ahead")

    running.worker.stop()
    # Given back at once, while the running job still runs.
    await wait_for(lambda: doing(db) == [blocker_id], "the claimed jobs given back")
    assert_given_back(db, queued)
    assert not running.task.done()

    tasks.unblock.set()
    await finish(running.task, running.worker)
    assert job_row(db, blocker_id)["status"] == "succeeded"
    assert not any(tasks.ran(tag) for tag in queued.values())
    assert_given_back(db, queued)

    await one_shot(app)  # nothing was lost
    assert all(status == "succeeded" for _, status in statuses(db))
    assert [tasks.ran(tag) for tag in ["blocker", *queued.values()]] == [1] * (1 + QUEUED)
    assert all(job_row(db, job_id)["attempts"] == 1 for job_id in queued)


async def test_immediate_stop_gives_back_claimed_jobs(app, db, tasks):
    running = Running(app, concurrency=1, fetch_job_polling_interval=POLLING)
    await tasks.warm_up(db)
    blocker_id = await tasks.block()
    queued = await tasks.queue()
    await wait_for(lambda: len(doing(db, running.worker_id)) == 1 + QUEUED, "claimed ahead")

    running.worker.stop_now()
    await finish(running.task)

    assert job_row(db, blocker_id)["status"] == "aborted"  # cancelled in flight
    assert_given_back(db, queued)
    assert not any(tasks.ran(tag) for tag in queued.values())

    await one_shot(app)
    assert [tasks.ran(tag) for tag in queued.values()] == [1] * QUEUED
    assert all(job_row(db, job_id)["status"] == "succeeded" for job_id in queued)


@pytest.mark.parametrize("listen_notify", [True, False])
async def test_abort_of_a_claimed_job_ends_it_aborted_unrun(app, db, tasks, listen_notify):
    # Without notifications, the abort is found by polling.
    running = Running(
        app, concurrency=1, listen_notify=listen_notify,
        abort_job_polling_interval=3600 if listen_notify else 0.1,
        fetch_job_polling_interval=POLLING,
    )
    await tasks.warm_up(db)
    blocker_id = await tasks.block()
    queued = await tasks.queue()
    await wait_for(lambda: len(doing(db, running.worker_id)) == 1 + QUEUED, "claimed ahead")
    target = list(queued)[1]

    assert await app.job_manager.cancel_job_by_id_async(target, abort=True)

    # A pending abort always ends aborted (sql/00_types.sql), run or not.
    await wait_for(lambda: job_row(db, target)["status"] == "aborted", "aborted")
    job = job_row(db, target)
    assert (job["attempts"], job["worker_id"], job["abort_requested"]) == (
        0, running.worker_id, False
    )
    assert job["finished_at"] is not None
    # The others stay claimed; the running job goes on.
    assert doing(db, running.worker_id) == [blocker_id, *(i for i in queued if i != target)]

    tasks.unblock.set()
    await wait_for(lambda: every_job_ended(db), "every job ended")
    await running.stop()

    assert tasks.ran(queued[target]) == 0
    assert [tasks.ran(tag) for i, tag in queued.items() if i != target] == [1] * (QUEUED - 1)
    assert statuses(db)[-QUEUED:] == [
        (i, "aborted" if i == target else "succeeded") for i in queued
    ]
    assert job_row(db, target)["status"] == "aborted"


async def test_graceful_stop_gives_back_claimed_jobs_holding_a_queueing_lock(
    app, db, tasks
):
    """Two claimed jobs with the same queueing lock: only one job per lock may
    wait as never tried (attempts 0). Giving them back must not fail for the
    other claimed jobs, and nothing may be lost."""
    running = Running(app, concurrency=1, fetch_job_polling_interval=POLLING)
    await tasks.warm_up(db)
    await tasks.block()
    plain = await tasks.queue(2, prefix="plain")
    locked = tasks.quick.configure(queueing_lock="Q")
    # The first is claimed (not waiting) before the second is deferred.
    first = await locked.defer_async(tag="locked0")
    await wait_for(lambda: first in doing(db, running.worker_id), "first claimed")
    second = await locked.defer_async(tag="locked1")
    await wait_for(lambda: second in doing(db, running.worker_id), "second claimed")

    running.worker.stop()
    tasks.unblock.set()
    await finish(running.task, running.worker)

    assert doing(db) == []
    assert_given_back(db, plain)  # untouched by the lock conflict
    # The oldest goes back as it was; the other waits as a retry (one fresh
    # job per queueing lock may wait), given back when the worker unregisters.
    assert [
        (job_row(db, job_id)["status"], job_row(db, job_id)["attempts"])
        for job_id in (first, second)
    ] == [("todo", 0), ("todo", 1)]

    await one_shot(app)
    assert [tasks.ran(tag) for tag in [*plain.values(), "locked0", "locked1"]] == [1] * 4


# --- options ----------------------------------------------------------------------------


def test_negative_prefetch_is_refused(app):
    with pytest.raises(ValueError, match="prefetch"):
        worker.Worker(app=app, prefetch=-1)


def test_prefetch_default_and_zero(app):
    assert worker.Worker(app=app, concurrency=1).prefetch == 10
    assert worker.Worker(app=app, concurrency=4).prefetch == 40
    assert worker.Worker(app=app, concurrency=50).prefetch == 100
    assert worker.Worker(app=app, concurrency=4, prefetch=0).prefetch == 0
