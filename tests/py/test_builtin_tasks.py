"""builtin_tasks.remove_old_jobs against a real database."""

from __future__ import annotations

import time

import pytest

import procrastinate
from procrastinate import builtin_tasks, exceptions, job_context, jobs, testing


async def test_remove_old_jobs(app, db):
    for status in ("succeeded", "failed", "cancelled", "aborted"):
        job_id = await app.configure_task("t").defer_async()
        db.execute(
            "update procrastinate_jobs set status = %s, finished_at = now() - interval '5 hours' "
            "where id = %s",
            [status, job_id],
        )
    context = job_context.JobContext(
        app=app,
        job=jobs.Job(
            id=99, queue="builtin", lock=None, queueing_lock=None, task_name="x"
        ),
        start_timestamp=time.time(),
    )
    assert await builtin_tasks.remove_old_jobs(context, max_hours=10) == 0
    assert await builtin_tasks.remove_old_jobs(context, max_hours=2, queue="other") == 0
    assert await builtin_tasks.remove_old_jobs(context, max_hours=2) == 1
    assert (
        await builtin_tasks.remove_old_jobs(
            context, max_hours=2, remove_failed=True, remove_cancelled=True
        )
        == 2
    )
    assert (
        await builtin_tasks.remove_old_jobs(context, max_hours=2, remove_aborted=True)
        == 1
    )
    assert await app.job_manager.list_jobs_async() == []


async def test_remove_old_jobs_is_deferrable_by_both_names(app, db):
    await app.configure_task(
        "procrastinate.builtin_tasks.remove_old_jobs", allow_unknown=False
    ).defer_async(max_hours=1)
    await app.configure_task(
        "builtin:procrastinate.builtin_tasks.remove_old_jobs", allow_unknown=False
    ).defer_async(max_hours=1)
    rows = db.execute(
        "select task_name, queue_name from procrastinate_jobs order by id"
    ).fetchall()
    assert [row["queue_name"] for row in rows] == ["builtin", "builtin"]
    assert {row["task_name"] for row in rows} == {
        "builtin:procrastinate.builtin_tasks.remove_old_jobs"
    }


def test_the_modules_task_defers_through_the_app_as_the_how_to_shows(db_dsn, db):
    """procrastinate's "delete finished jobs" how-to: ``from procrastinate
    import builtin_tasks``, then ``builtin_tasks.remove_old_jobs.defer(...)``,
    also with a queueing lock (AlreadyEnqueued the second time)."""
    procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo="dbname=elsewhere"))
    app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=db_dsn))
    db.execute(
        "insert into procrastinate_jobs (queue_name, task_name, status, finished_at)"
        " values ('default', 'old', 'succeeded', now() - interval '4 days')"
    )
    with app.open():
        builtin_tasks.remove_old_jobs.defer(max_hours=72)
        deferrer = builtin_tasks.remove_old_jobs.configure(queueing_lock="remove_old_jobs")
        deferrer.defer(max_hours=72)
        with pytest.raises(exceptions.AlreadyEnqueued):
            deferrer.defer(max_hours=72)
        outcomes = testing.run_deferred_jobs(app)

    assert [(o.task_name, o.status.value, o.result) for o in outcomes] == [
        ("builtin:procrastinate.builtin_tasks.remove_old_jobs", "succeeded", 1),
        ("builtin:procrastinate.builtin_tasks.remove_old_jobs", "succeeded", 0),
    ]
    old = db.execute("select count(*) as n from procrastinate_jobs where task_name = 'old'")
    assert old.fetchone() == {"n": 0}
