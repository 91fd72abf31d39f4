"""JobManager's worker protocol of procrastinate 3.x (register_worker,
fetch_job, finish_job, finish_job_by_id_async, update_heartbeat,
unregister_worker), as a worker of one's own uses it, on a real database."""

from __future__ import annotations

import pytest

from procrastinate import exceptions, jobs


async def test_a_worker_of_ones_own(app, db):
    manager = app.job_manager
    first = await app.configure_task("t", queue="a").defer_async(n=1)
    second = await app.configure_task("t", queue="b", lock="l").defer_async(n=2)
    await app.configure_task("t", queue="c").defer_async(n=3)

    worker_id = await manager.register_worker(name="mine", queues=["a", "b"])
    job = await manager.fetch_job(["a", "b"], worker_id)
    assert (job.id, job.status, job.worker_id) == (first, "doing", worker_id)
    await manager.update_heartbeat(worker_id)
    await manager.finish_job(job, jobs.Status.SUCCEEDED, delete_job=False)
    assert await manager.get_job_status_async(first) == jobs.Status.SUCCEEDED

    job = await manager.fetch_job(["a", "b"], worker_id)
    assert job.id == second
    await manager.finish_job_by_id_async(second, jobs.Status.FAILED, delete_job=True)
    assert db.execute(
        "select count(*) as n from procrastinate_jobs where id = %s", [second]
    ).fetchone() == {"n": 0}

    assert await manager.fetch_job(["a", "b"], worker_id) is None  # c is not served
    with pytest.raises(exceptions.InvalidJobStatus, match="not finished"):
        await manager.finish_job(job, jobs.Status.SUCCEEDED, delete_job=False)
    with pytest.raises(exceptions.JobNotFound):
        await manager.finish_job_by_id_async(999, jobs.Status.SUCCEEDED, delete_job=False)

    held = await manager.fetch_job(None, worker_id)
    await manager.unregister_worker(worker_id)
    # its job went back to the queue
    assert await manager.get_job_status_async(held.id) == jobs.Status.TODO
