"""builtin_tasks.remove_old_jobs against a real database."""

from __future__ import annotations

import time

from procrastinate import builtin_tasks, job_context, jobs


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
