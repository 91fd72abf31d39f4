"""Jobs deferred after others (docs/results.md): fan-out and fan-in with no
coordinator, decided by the database when the parents end; a worker runs
them in the test's event loop on a real database."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import procrastinate
from acceptance.worker_helpers import Running
from procrastinate import exceptions


def register_tasks(app: procrastinate.App) -> dict[str, Any]:
    @app.task(name="square", store_result=True)
    async def square(n: int) -> int:
        return n * n

    @app.task(name="total", store_result=True, pass_context=True)
    async def total(context: procrastinate.JobContext) -> int:
        return sum(value for value in context.parent_results.values() if value is not None)

    @app.task(name="fail")
    def fail() -> None:
        raise RuntimeError("no")

    return {"square": square, "total": total, "fail": fail}


@pytest.fixture
def tasks(app: procrastinate.App) -> dict[str, Any]:
    return register_tasks(app)


async def test_fan_in_of_a_hundred_jobs_into_one_that_reads_their_results(
    app: procrastinate.App, tasks: dict[str, Any], db: psycopg.Connection
) -> None:
    squares = await tasks["square"].batch_defer_async(*({"n": n} for n in range(100)))
    total_id = await tasks["total"].configure(after=squares).defer_async()
    row = db.execute(
        "select status::text as status, scheduled_at is not null as held "
        "from procrastinate_jobs where id = %s",
        [total_id],
    ).fetchone()
    assert row == {"status": "todo", "held": True}
    running = Running(app, concurrency=10)
    try:
        finished = await app.job_manager.wait_for_job_async(total_id, timeout=60)
    finally:
        await running.stop()
    assert finished.value() == sum(n * n for n in range(100))
    # it ran after every parent had ended
    row = db.execute(
        "select min(p.finished_at) <= max(p.finished_at) and max(p.finished_at) <= t.started_at"
        " as after_all from procrastinate_jobs as p, procrastinate_jobs as t"
        " where p.id = any(%s) and t.id = %s group by t.started_at",
        [list(squares), total_id],
    ).fetchone()
    assert row == {"after_all": True}


async def test_a_failed_parent_cancels_its_dependents(
    app: procrastinate.App, tasks: dict[str, Any]
) -> None:
    failing = await tasks["fail"].defer_async()
    child = await tasks["total"].configure(after=[failing]).defer_async()
    grandchild = await tasks["total"].configure(after=[child]).defer_async()
    anyway = await tasks["total"].configure(after=[failing], after_policy="always").defer_async()
    running = Running(app, concurrency=2)
    try:
        with pytest.raises(exceptions.JobCancelled):
            await app.job_manager.wait_for_job_async(child, timeout=30)
        with pytest.raises(exceptions.JobCancelled):
            await app.job_manager.wait_for_job_async(grandchild, timeout=30)
        ran_anyway = await app.job_manager.wait_for_job_async(anyway, timeout=30)
    finally:
        await running.stop()
    assert ran_anyway.value() == 0  # its parent stored no result: None is not summed
    rows = await app.job_manager.job_results_async([child])
    assert rows[0]["error_message"] == (
        f"cancelled: job {failing}, which it was deferred after, ended failed"
    )


async def test_cycles_and_unknown_parents_are_refused(
    app: procrastinate.App, tasks: dict[str, Any], db: psycopg.Connection
) -> None:
    last = db.execute("select coalesce(max(id), 0) as m from procrastinate_jobs").fetchone()["m"]
    with pytest.raises(exceptions.InvalidJobDefinition, match="does not exist"):
        # the next id is the job's own: a job cannot wait for itself
        await tasks["total"].configure(after=[last + 1]).defer_async()
    with pytest.raises(exceptions.InvalidJobDefinition, match="after_policy"):
        await tasks["total"].configure(after=[1], after_policy="sometimes").defer_async()
    assert db.execute("select count(*) as n from procrastinate_jobs").fetchone()["n"] == 0
