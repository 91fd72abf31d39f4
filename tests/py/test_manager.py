"""JobManager's user-facing operations, sync and async, against a real database."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from procrastinate import App, PsycopgConnector, exceptions, jobs

UTC = datetime.timezone.utc
Status = jobs.Status


async def defer(app, name="t", **options):
    return await app.configure_task(name, **options).defer_async()


async def run(app, job_id, worker_id=None):
    """Fetch the job as a worker would (it must be next in its queue)."""
    (job,) = await app.job_manager.list_jobs_async(id=job_id)
    fetched = await app.job_manager.fetch_jobs_async(worker_id, [job.queue], 1)
    assert [job.id for job in fetched] == [job_id]


async def finish(app, job_id, status, worker_id=None, **extra):
    (job,) = await app.job_manager.list_jobs_async(id=job_id)
    outcome = {"id": job_id, "attempt": job.attempts, "status": status, **extra}
    return await app.job_manager.finish_jobs_async(worker_id, [outcome], "never")


async def test_list_jobs_filters(app):
    first = await defer(app, "a", queue="q1", lock="l1", queueing_lock="ql1")
    second = await defer(app, "b", queue="q2")
    await run(app, second)
    manager = app.job_manager
    assert [j.id for j in await manager.list_jobs_async()] == [first, second]
    assert [j.id for j in await manager.list_jobs_async(id=second)] == [second]
    assert [j.id for j in await manager.list_jobs_async(queue="q1")] == [first]
    assert [j.id for j in await manager.list_jobs_async(task="b")] == [second]
    assert [j.id for j in await manager.list_jobs_async(status="doing")] == [second]
    assert [j.id for j in await manager.list_jobs_async(status=Status.TODO)] == [first]
    assert [j.id for j in await manager.list_jobs_async(lock="l1")] == [first]
    assert [j.id for j in await manager.list_jobs_async(queueing_lock="ql1")] == [first]
    assert await manager.list_jobs_async(status="not-a-status") == []
    (job,) = await manager.list_jobs_async(id=first)
    assert job == jobs.Job(
        id=first,
        status="todo",
        queue="q1",
        lock="l1",
        queueing_lock="ql1",
        task_name="a",
        task_kwargs={},
    )


def test_list_jobs_sync(sync_app):
    sync_app.configure_task("a").defer()
    assert [job.task_name for job in sync_app.job_manager.list_jobs()] == ["a"]
    assert sync_app.job_manager.list_jobs(worker_id=1) == []


async def test_list_queues_tasks_locks(app):
    for queue, lock in (("q1", "x"), ("q1", None), ("q2", "x")):
        await defer(app, f"task_{queue}", queue=queue, lock=lock)
    assert await app.job_manager.cancel_job_by_id_async(2)
    zero = dict(doing=0, succeeded=0, failed=0, aborted=0)
    assert await app.job_manager.list_queues_async() == [
        {"name": "q1", "jobs_count": 2, "todo": 1, "cancelled": 1, **zero},
        {"name": "q2", "jobs_count": 1, "todo": 1, "cancelled": 0, **zero},
    ]
    assert await app.job_manager.list_tasks_async(queue="q2") == [
        {"name": "task_q2", "jobs_count": 1, "todo": 1, "cancelled": 0, **zero},
    ]
    assert await app.job_manager.list_locks_async() == [
        {"name": "x", "jobs_count": 2, "todo": 2, "cancelled": 0, **zero},
    ]
    assert await app.job_manager.list_queues_async(status="cancelled") == [
        {"name": "q1", "jobs_count": 1, "todo": 0, "cancelled": 1, **zero},
    ]
    assert await app.job_manager.list_locks_async(task="nothing") == []


def test_list_counts_sync(sync_app):
    sync_app.configure_task("a", lock="l").defer()
    manager = sync_app.job_manager
    assert [q["name"] for q in manager.list_queues()] == ["default"]
    assert [t["name"] for t in manager.list_tasks()] == ["a"]
    assert [lock["jobs_count"] for lock in manager.list_locks()] == [1]


async def test_cancel(app, db):
    todo = await defer(app)
    deleted = await defer(app)
    running = await defer(app, queue="other")
    manager = app.job_manager
    await run(app, running)
    assert await manager.cancel_job_by_id_async(todo)
    assert await manager.get_job_status_async(todo) is Status.CANCELLED
    assert not await manager.cancel_job_by_id_async(todo)  # already finished
    assert await manager.cancel_job_by_id_async(deleted, delete_job=True)
    with pytest.raises(exceptions.JobNotFound):
        await manager.get_job_status_async(deleted)
    assert not await manager.cancel_job_by_id_async(running)  # running, no abort
    assert await manager.cancel_job_by_id_async(running, abort=True)
    assert (await manager.list_jobs_async(id=running))[0].abort_requested
    assert await manager.list_jobs_to_abort_async() == [running]
    assert await manager.list_jobs_to_abort_async(queue="default") == []
    assert not await manager.cancel_job_by_id_async(123456)  # unknown


def test_cancel_and_status_sync(sync_app):
    job_id = sync_app.configure_task("t").defer()
    manager = sync_app.job_manager
    assert manager.get_job_status(job_id) is Status.TODO
    assert manager.cancel_job_by_id(job_id)
    assert manager.get_job_status(job_id) is Status.CANCELLED
    assert manager.list_jobs_to_abort() == []
    with pytest.raises(exceptions.JobNotFound):
        manager.get_job_status(999)


async def test_retry_job_by_id(app):
    job_id = await defer(app)
    manager = app.job_manager
    with pytest.raises(exceptions.InvalidJobStatus):
        await manager.retry_job_by_id_async(job_id)
    with pytest.raises(exceptions.JobNotFound):
        await manager.retry_job_by_id_async(999)
    await run(app, job_id)
    await finish(app, job_id, "failed")
    assert await manager.get_job_status_async(job_id) is Status.FAILED
    at = datetime.datetime(2035, 1, 1, tzinfo=UTC)
    status = await manager.retry_job_by_id_async(
        job_id, retry_at=at, priority=7, queue="retry_q", lock="retry_l"
    )
    assert status is Status.TODO
    (job,) = await manager.list_jobs_async(id=job_id)
    assert (job.status, job.scheduled_at, job.priority, job.queue, job.lock) == (
        "todo",
        at,
        7,
        "retry_q",
        "retry_l",
    )


async def test_retry_job_with_pending_abort_ends_failed(app):
    job_id = await defer(app)
    await run(app, job_id)
    await app.job_manager.cancel_job_by_id_async(job_id, abort=True)
    (job,) = await app.job_manager.list_jobs_async(id=job_id)
    assert await app.job_manager.retry_job(job) is Status.FAILED


def test_retry_job_by_id_sync(sync_app):
    job_id = sync_app.configure_task("t").defer()
    with pytest.raises(exceptions.InvalidJobStatus):
        sync_app.job_manager.retry_job_by_id(job_id, datetime.datetime.now(UTC))


async def test_delete_old_jobs(app, db):
    statuses = ["succeeded", "failed", "cancelled", "aborted", "succeeded"]
    ids = []
    for index, status in enumerate(statuses):
        job_id = await defer(app, queue="other" if index == 4 else "default")
        await run(app, job_id)
        await finish(app, job_id, "succeeded" if status == "cancelled" else status)
        ids.append(job_id)
    db.execute(
        "update procrastinate_jobs set status = 'cancelled' where id = %s", [ids[2]]
    )
    db.execute("update procrastinate_jobs set finished_at = now() - interval '3 hours'")
    recent = await defer(app)
    await run(app, recent)
    await finish(app, recent, "succeeded")

    manager = app.job_manager
    assert await manager.delete_old_jobs(nb_hours=5) == 0
    assert await manager.delete_old_jobs(nb_hours=2, queue="default") == 1
    assert await manager.delete_old_jobs(nb_hours=2, include_failed=True) == 2
    assert await manager.delete_old_jobs(nb_hours=2, should_delete_cancelled=True) == 1
    assert await manager.delete_old_jobs(nb_hours=2, include_aborted=True) == 1
    assert [job.id for job in await manager.list_jobs_async()] == [recent]


async def test_get_stalled_jobs(app, db):
    manager = app.job_manager
    alive = await manager.register_worker_async("alive", None, 1)
    dead = await manager.register_worker_async("dead", None, 1)
    jobs_of = {}
    for worker_id, queue in ((alive, "a"), (dead, "b")):
        jobs_of[worker_id] = await defer(app, queue=queue)
        fetched = await manager.fetch_jobs_async(worker_id, [queue], 1)
        assert [job.id for job in fetched] == [jobs_of[worker_id]]
    db.execute(
        "update procrastinate_workers set last_heartbeat = now() - interval '1 minute' "
        "where id = %s",
        [dead],
    )
    stalled = await manager.get_stalled_jobs()
    assert [job.id for job in stalled] == [jobs_of[dead]]
    assert await manager.get_stalled_jobs(seconds_since_heartbeat=120) == []
    assert await manager.get_stalled_jobs(queue="a") == []
    db.execute("update procrastinate_jobs set started_at = now() - interval '1 hour'")
    with pytest.warns(DeprecationWarning):
        old = await manager.get_stalled_jobs(nb_seconds=60)
    assert sorted(job.id for job in old) == sorted(jobs_of.values())


async def test_check_connection(app, empty_db_dsn):
    assert await app.check_connection_async()
    assert await asyncio.to_thread(app.check_connection)
    empty = App(connector=PsycopgConnector(conninfo=empty_db_dsn))
    async with empty.open_async():
        assert not await empty.check_connection_async()


def test_check_connection_sync(sync_app):
    assert sync_app.check_connection()
