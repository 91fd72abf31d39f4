"""JobManager's worker protocol of procrastinate 3.x (register_worker,
fetch_job, finish_job, finish_job_by_id_async, update_heartbeat,
unregister_worker, listen_for_jobs, prune_stalled_workers,
list_jobs_to_abort_async), as a worker of one's own uses it, on a real
database; and the rest of 3.x's JobManager."""

from __future__ import annotations

import asyncio
import inspect
import json

import pytest

from procrastinate import exceptions, jobs
from procrastinate import manager as manager_module
from procrastinate.manager import JobManager

from polling import poll, server_is_older_than


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


# --- the rest of 3.x's JobManager ---------------------------------------------------------

#: procrastinate 3.10's public JobManager methods (whether they are coroutine
#: functions there): each is here, under the same name.
UPSTREAM_METHODS = {
    "defer_job": False, "defer_job_async": True,
    "batch_defer_jobs": False, "batch_defer_jobs_async": True,
    "defer_periodic_job": True, "fetch_job": True, "get_stalled_jobs": True,
    "delete_old_jobs": True, "finish_job": True, "finish_job_by_id_async": True,
    "cancel_job_by_id": False, "cancel_job_by_id_async": True,
    "get_job_status": False, "get_job_status_async": True,
    "retry_job": True, "retry_job_by_id": False, "retry_job_by_id_async": True,
    "listen_for_jobs": True, "check_connection": False, "check_connection_async": True,
    "list_jobs": False, "list_jobs_async": True, "list_queues": False,
    "list_queues_async": True, "list_tasks": False, "list_tasks_async": True,
    "list_locks": False, "list_locks_async": True, "list_jobs_to_abort_async": True,
    "register_worker": True, "unregister_worker": True, "update_heartbeat": True,
    "prune_stalled_workers": True,
}


def test_every_method_of_3x_is_there():
    missing = [name for name in UPSTREAM_METHODS if not callable(getattr(JobManager, name, None))]
    assert missing == []
    for name in ("listen_for_jobs", "prune_stalled_workers"):
        assert inspect.iscoroutinefunction(getattr(JobManager, name))
    listen = inspect.signature(JobManager.listen_for_jobs).parameters
    assert [(p.name, p.kind, p.default) for p in list(listen.values())[1:]] == [
        ("on_notification", inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.empty),
        ("queues", inspect.Parameter.KEYWORD_ONLY, None),
    ]
    assert list(inspect.signature(JobManager.prune_stalled_workers).parameters) == [
        "self",
        "seconds_since_heartbeat",
    ]
    # the module's other names of 3.x
    assert list(manager_module.get_channel_for_queues(None)) == ["procrastinate_any_queue_v1"]
    assert list(manager_module.get_channel_for_queues(["a", "b"])) == [
        "procrastinate_queue_v1#a",
        "procrastinate_queue_v1#b",
    ]
    assert manager_module.QUEUEING_LOCK_CONSTRAINT == "procrastinate_jobs_queueing_lock_idx_v1"


async def test_list_jobs_to_abort_async(app):
    manager = app.job_manager
    first = await app.configure_task("t", queue="a").defer_async()
    second = await app.configure_task("t", queue="b").defer_async()
    waiting = await app.configure_task("t", queue="a").defer_async()
    worker_id = await manager.register_worker(name="mine")
    assert (await manager.fetch_job(["a"], worker_id)).id == first
    assert (await manager.fetch_job(["b"], worker_id)).id == second
    assert await manager.list_jobs_to_abort_async() == []
    for job_id in (second, first, waiting):
        assert await manager.cancel_job_by_id_async(job_id, abort=True)
    # the waiting job was cancelled outright: nothing to abort there
    assert await manager.get_job_status_async(waiting) == jobs.Status.CANCELLED
    assert list(await manager.list_jobs_to_abort_async()) == [first, second]
    assert list(await manager.list_jobs_to_abort_async(queue="b")) == [second]
    assert list(await manager.list_jobs_to_abort_async(queue="c")) == []


# --- listen_for_jobs: our notifications as 3.x's --------------------------------------------

ANY = "procrastinate_any_queue_v1"
INSERTED = {"type": "job_inserted", "job_id": None}


def listening(db) -> int:
    """How many connections to the test database are LISTENing (their last
    statement: LISTEN on the channel)."""
    return db.execute(
        "select count(*) as n from pg_stat_activity"
        " where datname = current_database() and query = 'listen \"procrastinate\"'"
    ).fetchone()["n"]


async def next_of(received: asyncio.Queue, count: int, timeout: float = 10) -> list:
    return [await asyncio.wait_for(received.get(), timeout) for _ in range(count)]


def notify(db, payload: dict) -> None:
    """A NOTIFY of our own (forged, or too long for its list)."""
    db.execute("select pg_notify('procrastinate', %s)", [json.dumps(payload)])


async def stop(*tasks: asyncio.Future) -> None:
    for task in tasks:
        task.cancel()
    for result in await asyncio.gather(*tasks, return_exceptions=True):
        assert isinstance(result, asyncio.CancelledError)


async def test_listen_for_jobs_speaks_3x(app, db):
    manager = app.job_manager
    everything, mine = asyncio.Queue(), asyncio.Queue()

    async def on_any(*, channel, notification):
        everything.put_nowait((channel, notification))

    def on_mine(*, channel, notification):  # a plain function works too
        mine.put_nowait((channel, notification))

    listeners = (
        asyncio.ensure_future(manager.listen_for_jobs(on_notification=on_any)),
        asyncio.ensure_future(
            manager.listen_for_jobs(on_notification=on_mine, queues=["sms", "mail"])
        ),
    )
    try:
        await poll(lambda: listening(db) == 2, "both listeners to LISTEN")

        # Defers from another connection (plain SQL, not the app's pool) wake
        # the listeners of their queue.
        db.execute("select procrastinate_defer_job('t', queue_name => 'other')")
        sms = db.execute(
            "select procrastinate_defer_job('t', queue_name => 'sms') as id"
        ).fetchone()["id"]
        assert await next_of(everything, 2) == [(ANY, INSERTED), (ANY, INSERTED)]
        # nothing for "other" came before
        assert await next_of(mine, 1) == [("procrastinate_queue_v1#sms", INSERTED)]

        # "Some queue" (a list too long for a payload): each listened queue.
        notify(db, {"type": "job_available", "queues": None})
        assert await next_of(mine, 2) == [
            ("procrastinate_queue_v1#sms", INSERTED),
            ("procrastinate_queue_v1#mail", INSERTED),
        ]
        assert await next_of(everything, 1) == [(ANY, INSERTED)]

        worker_id = await manager.register_worker(name="mine", queues=["sms"])
        assert (await manager.fetch_job(["sms"], worker_id)).id == sms
        # Forged aborts of a job whose abort nobody requested: confirmed in
        # the database, they give nothing. The listeners handle notifications
        # in order: once the next one is heard, these were dealt with.
        notify(db, {"type": "abort_requested", "job_ids": [sms]})
        notify(db, {"type": "abort_requested", "job_ids": None})
        notify(db, {"type": "job_available", "queues": ["mail"]})
        assert await next_of(mine, 1) == [("procrastinate_queue_v1#mail", INSERTED)]
        assert await next_of(everything, 1) == [(ANY, INSERTED)]

        assert await manager.cancel_job_by_id_async(sms, abort=True)
        aborted = {"type": "abort_job_requested", "job_id": sms}
        assert await next_of(mine, 1) == [("procrastinate_queue_v1#sms", aborted)]
        assert await next_of(everything, 1) == [(ANY, aborted)]
        # A payload naming other jobs says nothing of the pending one.
        notify(db, {"type": "abort_requested", "job_ids": [sms + 1000]})
        notify(db, {"type": "job_available", "queues": ["mail"]})
        assert await next_of(mine, 1) == [("procrastinate_queue_v1#mail", INSERTED)]
        assert await next_of(everything, 1) == [(ANY, INSERTED)]
    finally:
        await stop(*listeners)
    assert everything.empty() and mine.empty()


async def test_listen_for_jobs_catches_up_after_a_reconnection(app, db):
    """Notifications sent while the connection is lost are lost: once LISTEN
    is back, the callback hears of each queue and of the pending aborts."""
    manager = app.job_manager
    worker_id = await manager.register_worker(name="mine")
    running = await app.configure_task("t", queue="sms").defer_async()
    assert (await manager.fetch_job(["sms"], worker_id)).id == running
    assert await manager.cancel_job_by_id_async(running, abort=True)  # before listening

    received = asyncio.Queue()

    async def on_notification(*, channel, notification):
        received.put_nowait((channel, notification))

    listener = asyncio.ensure_future(
        manager.listen_for_jobs(on_notification=on_notification, queues=["sms", "mail"])
    )
    try:
        await poll(lambda: listening(db) == 1, "the listener to LISTEN")
        db.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where datname = current_database() and query = 'listen \"procrastinate\"'"
        )
        import procrastinate.psycopg_connector as module

        # nothing on the first LISTEN: these come after the reconnection
        assert await next_of(received, 3, 10 + module.MAX_RECONNECT_DELAY) == [
            ("procrastinate_queue_v1#sms", INSERTED),
            ("procrastinate_queue_v1#mail", INSERTED),
            ("procrastinate_queue_v1#sms", {"type": "abort_job_requested", "job_id": running}),
        ]
    finally:
        await stop(listener)
    assert received.empty()


# --- prune_stalled_workers: 3.x's pruning over our leases ---------------------------------


async def test_prune_stalled_workers(app, db):
    manager = app.job_manager
    dead_job = await app.configure_task("t", queue="a").defer_async()
    slow_job = await app.configure_task("t", queue="b").defer_async()
    # Leases of 2 s and of an hour (register_worker_async: our form, with a lease)
    dead = await manager.register_worker_async("dead", ["a"], 1, stalled_after=2)
    slow = await manager.register_worker_async("slow", ["b"], 1, stalled_after=3600)
    assert (await manager.fetch_job(["a"], dead)).id == dead_job
    assert (await manager.fetch_job(["b"], slow)).id == slow_job
    # Both silent for a minute.
    db.execute("update procrastinate_workers set last_heartbeat = now() - interval '60 seconds'")
    await poll(lambda: server_is_older_than(db, 2), "the server to be older than the lease")

    def holders() -> dict:
        rows = db.execute(
            "select id, status::text, worker_id, attempts from procrastinate_jobs order by id"
        ).fetchall()
        return {row["id"]: (row["status"], row["worker_id"], row["attempts"]) for row in rows}

    # Nobody silent for an hour: nothing pruned (the dead worker's lease ran
    # out, but the argument narrows the pruning).
    assert await manager.prune_stalled_workers(3600) == []
    assert holders() == {dead_job: ("doing", dead, 0), slow_job: ("doing", slow, 0)}

    # Silent for more than 30 s: the dead worker is removed and its job taken
    # back (a rescue: back to the queue, the lost run counted); the slow one's
    # lease still runs, so it keeps its job and its registration.
    assert await manager.prune_stalled_workers(30) == [dead]
    assert holders() == {dead_job: ("todo", None, 1), slow_job: ("doing", slow, 0)}
    assert await manager.heartbeat_async(dead) is None  # its row is gone
    assert await manager.heartbeat_async(slow) == 3600.0
    assert await manager.prune_stalled_workers(30) == []  # it just renewed its lease
