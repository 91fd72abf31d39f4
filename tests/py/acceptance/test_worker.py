"""The worker, in-process, against a real database: App.run_worker_async and
worker.Worker with tasks defined in each test."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

import procrastinate
from procrastinate import exceptions, worker

from worker_helpers import (
    TIMEOUT,
    Running,
    finish,
    job_row,
    one_shot,
    statuses,
    wait_for,
)


async def test_sync_and_async_tasks_succeed(app, db, caplog):
    caplog.set_level(logging.INFO)

    @app.task(name="sum_task")
    def sum_task(a, b):
        return a + b

    @app.task(name="async_sum")
    async def async_sum(a, b):
        await asyncio.sleep(0)
        return a + b

    await sum_task.defer_async(a=3, b=5)
    await async_sum.defer_async(a=1, b=2)
    await one_shot(app)

    assert statuses(db) == [(1, "succeeded"), (2, "succeeded")]
    messages = [r.getMessage() for r in caplog.records if r.name == "procrastinate.worker"]
    assert any(
        m.startswith("Job sum_task[1](a=3, b=5) ended with status: Success, lasted ")
        and m.endswith(" s - Result: 8")
        for m in messages
    ), messages
    assert any("Job async_sum[2](a=1, b=2) ended with status: Success" in m for m in messages)
    worker_rows = db.execute("select count(*) as n from procrastinate_workers").fetchone()
    assert worker_rows["n"] == 0


async def test_sql_retry_strategy_retries_then_fails(app, db, caplog):
    caplog.set_level(logging.INFO)
    attempts = []

    @app.task(name="always_fails", retry=2, pass_context=True)
    def always_fails(context):
        attempts.append(context.job.attempts)
        raise ValueError("nope")

    await always_fails.defer_async()
    await one_shot(app)

    assert attempts == [0, 1, 2]
    job = job_row(db, 1)
    assert (job["status"], job["attempts"]) == ("failed", 3)
    ends = [r for r in caplog.records if "ended with status" in r.getMessage()]
    assert [r.getMessage().split("status: ")[1].split(", lasted")[0] for r in ends] == [
        "Error, to retry", "Error, to retry", "Error"
    ]
    assert [r.levelno for r in ends] == [logging.INFO, logging.INFO, logging.ERROR]
    assert all(r.exc_info and isinstance(r.exc_info[1], ValueError) for r in ends)


async def test_retry_exceptions_filter_in_sql(app, db):
    @app.task(name="picky", retry=procrastinate.RetryStrategy(
        max_attempts=5, retry_exceptions=[KeyError]))
    def picky():
        raise ValueError("not retried")

    await picky.defer_async()
    await one_shot(app)

    job = job_row(db, 1)
    assert (job["status"], job["attempts"]) == ("failed", 1)


async def test_custom_retry_strategy_sends_its_decision(app, db):
    class MoveToOtherQueue(procrastinate.BaseRetryStrategy):
        def get_retry_decision(self, *, exception, job):
            if job.attempts == 0:
                return procrastinate.RetryDecision(queue="second_chance", priority=7)
            return None

    seen = []

    @app.task(name="custom", retry=MoveToOtherQueue(), pass_context=True)
    def custom(context):
        seen.append(context.job.queue)
        raise ValueError("again")

    await custom.defer_async()
    await one_shot(app)

    assert seen == ["default", "second_chance"]
    job = job_row(db, 1)
    assert (job["status"], job["queue_name"], job["priority"]) == (
        "failed", "second_chance", 7
    )


async def test_unknown_task_fails_and_the_worker_goes_on(app, db, caplog):
    @app.task(name="known")
    def known():
        return "fine"

    await app.configure_task("unknown.task").defer_async(x=1)
    await known.defer_async()
    await one_shot(app)

    assert statuses(db) == [(1, "failed"), (2, "succeeded")]
    job = job_row(db, 1)
    assert any(name.endswith("TaskNotFound") for name in job["last_error_types"])
    assert "unknown.task" in job["last_error"]
    assert "Job unknown.task[1](x=1) ended with status: Error" in caplog.text


async def test_error_message_with_nul_character_is_reported(app, db):
    @app.task(name="nul")
    def nul():
        raise ValueError("before\x00after")

    await nul.defer_async()
    await one_shot(app)

    job = job_row(db, 1)
    assert job["status"] == "failed"
    assert "before" in job["last_error"] and "after" in job["last_error"]


@pytest.mark.parametrize("listen_notify", [True, False])
async def test_abort_of_a_running_async_job(app, db, listen_notify):
    started = asyncio.Event()

    @app.task(name="long_async")
    async def long_async():
        started.set()
        await asyncio.sleep(3600)

    # Without notifications, the abort is found by polling.
    running = Running(
        app, listen_notify=listen_notify,
        abort_job_polling_interval=3600 if listen_notify else 0.1,
        fetch_job_polling_interval=0.1,
    )
    job_id = await long_async.defer_async()
    await asyncio.wait_for(started.wait(), TIMEOUT)

    assert await app.job_manager.cancel_job_by_id_async(job_id, abort=True)

    await wait_for(lambda: job_row(db, job_id)["status"] == "aborted", "aborted")
    await running.stop()
    assert job_row(db, job_id)["attempts"] == 1


async def test_abort_of_a_sync_job_that_checks_should_abort(app, db):
    started = threading.Event()

    @app.task(name="polite", pass_context=True)
    def polite(context):
        started.set()
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if context.should_abort():
                raise exceptions.JobAborted
            time.sleep(0.01)
        return "not aborted"

    running = Running(app, abort_job_polling_interval=0.1, fetch_job_polling_interval=0.1)
    job_id = await polite.defer_async()
    await asyncio.to_thread(started.wait, TIMEOUT)

    await app.job_manager.cancel_job_by_id_async(job_id, abort=True)

    await wait_for(lambda: job_row(db, job_id)["status"] == "aborted", "aborted")
    await running.stop()


async def test_graceful_stop_waits_for_running_jobs(app, db):
    started = asyncio.Event()

    @app.task(name="short")
    async def short():
        started.set()
        await asyncio.sleep(0.3)
        return "done"

    running = Running(app)
    await short.defer_async()
    await asyncio.wait_for(started.wait(), TIMEOUT)
    await running.stop()

    assert statuses(db) == [(1, "succeeded")]


async def test_graceful_timeout_aborts_async_jobs(app, db, caplog):
    caplog.set_level(logging.INFO)
    started = asyncio.Event()

    @app.task(name="endless")
    async def endless():
        started.set()
        await asyncio.sleep(3600)

    running = Running(app, shutdown_graceful_timeout=0.2)
    await endless.defer_async()
    await asyncio.wait_for(started.wait(), TIMEOUT)
    await running.stop()

    assert statuses(db) == [(1, "aborted")]
    assert "1 jobs still running after graceful timeout. Aborting them" in caplog.text
    assert "Job endless[1]() ended with status: Aborted" in caplog.text


async def test_job_aborted_by_shutdown_is_retried_by_its_strategy(app, db, caplog):
    caplog.set_level(logging.INFO)
    started = asyncio.Event()

    @app.task(name="endless_retried", retry=3)
    async def endless_retried():
        started.set()
        await asyncio.sleep(3600)

    running = Running(app, shutdown_graceful_timeout=0.2)
    await endless_retried.defer_async()
    await asyncio.wait_for(started.wait(), TIMEOUT)
    await running.stop()

    job = job_row(db, 1)
    assert (job["status"], job["attempts"]) == ("todo", 1)
    assert "Job endless_retried[1]() ended with status: Aborted, to retry" in caplog.text


async def test_stop_now_leaves_a_stubborn_sync_job_to_the_database(app, db, caplog):
    caplog.set_level(logging.INFO)
    started = threading.Event()
    release = threading.Event()

    @app.task(name="stubborn")
    def stubborn():
        started.set()
        release.wait(TIMEOUT)

    running = Running(app)
    await stubborn.defer_async()
    await asyncio.to_thread(started.wait, TIMEOUT)
    running.worker.stop()
    # stop_now() while the graceful stop waits for the job (it says so).
    await wait_for(
        lambda: any(getattr(r, "action", None) == "ending_job" for r in caplog.records),
        "the graceful stop waiting for the job",
    )
    running.worker.stop_now()
    await finish(running.task)
    release.set()

    job = job_row(db, 1)
    assert (job["status"], job["attempts"]) == ("todo", 1)


async def test_cancelling_run_stops_gracefully(app, db):
    started = asyncio.Event()

    @app.task(name="brief")
    async def brief():
        started.set()
        await asyncio.sleep(0.2)

    task = asyncio.create_task(app.run_worker_async(install_signal_handlers=False))
    await brief.defer_async()
    await asyncio.wait_for(started.wait(), TIMEOUT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await finish(task)

    assert statuses(db) == [(1, "succeeded")]


@pytest.mark.parametrize("delete_jobs, left", [
    ("never", [(1, "succeeded"), (2, "failed")]),
    ("successful", [(2, "failed")]),
    ("always", []),
])
async def test_delete_jobs(app, db, delete_jobs, left):
    @app.task(name="ok")
    def ok():
        pass

    @app.task(name="ko")
    def ko():
        raise ValueError

    await ok.defer_async()
    await ko.defer_async()
    await one_shot(app, delete_jobs=delete_jobs)

    assert statuses(db) == left


async def test_concurrency_async(app, db):
    count = 4
    arrived = 0
    all_there = asyncio.Event()

    @app.task(name="meet")
    async def meet():
        nonlocal arrived
        arrived += 1
        if arrived == count:
            all_there.set()
        # Succeeds only if all the jobs run at the same time.
        await asyncio.wait_for(all_there.wait(), TIMEOUT)

    await meet.batch_defer_async(*({} for _ in range(count)))
    await one_shot(app, concurrency=count)

    assert [status for _, status in statuses(db)] == ["succeeded"] * count


async def test_concurrency_sync_tasks_run_in_threads(app, db):
    count = 3
    barrier = threading.Barrier(count, timeout=TIMEOUT)

    @app.task(name="meet_sync")
    def meet_sync():
        barrier.wait()
        return threading.current_thread().name

    await meet_sync.batch_defer_async(*({} for _ in range(count)))
    await one_shot(app, concurrency=count)

    assert [status for _, status in statuses(db)] == ["succeeded"] * count


async def test_priority_then_id_order(app, db):
    order = []

    @app.task(name="ordered")
    def ordered(tag):
        order.append(tag)

    await ordered.configure(priority=1).defer_async(tag="b")
    await ordered.configure(priority=5).defer_async(tag="a")
    await ordered.configure(priority=1).defer_async(tag="c")
    await ordered.configure(priority=-1).defer_async(tag="d")
    await one_shot(app, concurrency=1)

    assert order == ["a", "b", "c", "d"]


def listening_and_fetched(db) -> bool:
    """Whether a worker LISTENs and a fetch of its, started once LISTEN was
    in place, has ended, as pg_stat_activity shows them: then only a
    notification (or its polling) makes it look again."""
    return db.execute(
        """
        select exists (
            select
            from pg_stat_activity as l, pg_stat_activity as f
            where
                l.datname = current_database()
                and l.query ilike 'listen %'
                and l.state = 'idle'
                and f.datname = current_database()
                and f.pid <> pg_backend_pid()
                and f.query like '%procrastinate_fetch_jobs%'
                and f.state = 'idle'
                and f.query_start > l.state_change
        ) as ready
        """
    ).fetchone()["ready"]


async def test_notification_wakes_the_worker(app, db):
    @app.task(name="woken")
    def woken():
        pass

    # Polling once an hour: only the notification can bring the job in time.
    running = Running(app, fetch_job_polling_interval=3600)
    await wait_for(lambda: listening_and_fetched(db), "the worker to listen, look and wait")
    await woken.defer_async()
    await wait_for(lambda: statuses(db) == [(1, "succeeded")], "job run")
    await running.stop()


async def test_jobs_sharing_a_lock_run_in_turn_without_polling(app, db):
    active = []
    overlaps = []

    @app.task(name="locked")
    async def locked(tag):
        if active:
            overlaps.append((active[0], tag))
        active.append(tag)
        await asyncio.sleep(0.05)
        active.remove(tag)

    deferrer = locked.configure(lock="L")
    for tag in "abcd":
        await deferrer.defer_async(tag=tag)
    # After each job, the reported outcome frees the lock: the worker looks
    # again at once, without waiting for the (huge) polling interval.
    running = Running(app, concurrency=4, fetch_job_polling_interval=3600)
    await wait_for(lambda: all(s == "succeeded" for _, s in statuses(db)) and
                   len(statuses(db)) == 4, "all jobs")
    await running.stop()
    assert overlaps == []


async def test_queues_option(app, db):
    @app.task(name="queued")
    def queued():
        pass

    await queued.configure(queue="a").defer_async()
    await queued.configure(queue="b").defer_async()
    await queued.configure(queue="c").defer_async()
    await one_shot(app, queues=["a", "c"])

    assert statuses(db) == [(1, "succeeded"), (2, "todo"), (3, "succeeded")]


async def test_context_and_middlewares(app, db):
    calls = []

    async def worker_mw(call_next, context, worker):
        calls.append(("worker-before", context.job.task_name))
        result = await call_next()
        calls.append(("worker-after", result))
        return result

    def sync_mw(call_next, context, worker):
        calls.append(("sync-mw", threading.current_thread() is not threading.main_thread()))
        return call_next() * 10

    async def async_mw(call_next, context, worker):
        calls.append(("async-mw", context.job.task_name))
        return await call_next()

    @app.task(name="with_context", pass_context=True)
    def with_context(context, value):
        calls.append(("task", context.worker_name, context.additional_context,
                      list(context.worker_queues), context.should_abort()))
        return value

    await with_context.defer_async(value=4)
    await one_shot(
        app, name="ctx-worker", queues=["default"], additional_context={"k": "v"},
        worker_middleware=[worker_mw], task_middleware=[sync_mw, async_mw],
    )

    assert statuses(db) == [(1, "succeeded")]
    assert calls == [
        ("worker-before", "with_context"),
        ("sync-mw", True),
        ("task", "ctx-worker", {"k": "v"}, ["default"], False),
        ("worker-after", 40),
    ]


def test_sync_worker_middleware_is_refused(app):
    def not_async(call_next, context, worker):
        return call_next()

    with pytest.raises(exceptions.MiddlewareKindMismatch):
        worker.Worker(app=app, worker_middleware=[not_async])


def _report_error(kind: str) -> exceptions.ConnectorException:
    if kind == "connection lost":
        return exceptions.ConnectorException("connection lost (simulated)")
    error = exceptions.ConnectorException(
        "permission denied for function procrastinate_finish_jobs_v1"
    )
    error.sqlstate = "42501"  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize("kind", ["connection lost", "permission denied"])
async def test_outcome_is_sent_again_after_a_failed_report(app, db, caplog, monkeypatch, kind):
    """The outcome is kept and sent again. A refusal that will not cure
    itself (42501, permission denied) is logged as an error saying what to
    check; a lost connection, as a warning."""
    manager = app.job_manager
    real_finish = manager.finish_jobs_async
    failures = []

    async def fails_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise _report_error(kind)
        return await real_finish(*args, **kwargs)

    monkeypatch.setattr(manager, "finish_jobs_async", fails_once)

    @app.task(name="reported")
    def reported():
        return 1

    await reported.defer_async()
    await one_shot(app)

    assert failures == [1]
    assert statuses(db) == [(1, "succeeded")]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    if kind == "connection lost":
        assert "Could not report 1 job outcome(s), will try again" in caplog.text
        assert errors == []
    else:
        assert any(
            "refuses this worker's reports" in m
            and "SQLSTATE 42501" in m
            and "docs/security.md" in m
            for m in errors
        ), errors


async def test_periodic_task_is_deferred_and_run(app, db):
    ran = []

    @app.periodic(cron="* * * * * *", periodic_id="every-second")
    @app.task(name="tick")
    def tick(timestamp):
        ran.append(timestamp)

    running = Running(app, fetch_job_polling_interval=0.1)
    await wait_for(lambda: ran, "a periodic run")
    await running.stop()

    assert isinstance(ran[0], int)
    periodic = db.execute("select count(*) as n from procrastinate_periodic_defers").fetchone()
    assert periodic["n"] >= 1


async def test_worker_registers_again_after_being_pruned(app, db, caplog):
    running = Running(app, update_heartbeat_interval=0.05)
    first = await wait_for(
        lambda: db.execute("select id from procrastinate_workers").fetchone(), "registration"
    )
    db.execute("delete from procrastinate_workers")

    second = await wait_for(
        lambda: db.execute("select id from procrastinate_workers").fetchone(), "again"
    )
    # the row is committed before the worker logs it: stopping it as soon as
    # the row shows could cancel it in between
    await wait_for(lambda: "registered again" in caplog.text, "the log line")
    await running.stop()

    assert second["id"] != first["id"]


async def test_stalled_jobs_of_a_dead_worker_are_rescued(app, db):
    @app.task(name="rescued")
    def rescued():
        return "ran again"

    job_id = await rescued.defer_async()
    # A short lease: none runs out less than a lease after the server started.
    dead = await app.job_manager.register_worker_async("dead", None, 1, stalled_after=1)
    (fetched,) = await app.job_manager.fetch_jobs_async(dead, None, 1)
    assert fetched.id == job_id
    db.execute(
        "update procrastinate_workers set last_heartbeat = now() - interval '1 hour' "
        "where id = %s", [dead],
    )

    await one_shot(app, stalled_worker_timeout=60)

    job = job_row(db, job_id)
    assert (job["status"], job["attempts"]) == ("succeeded", 2)


async def test_job_deferred_from_sql_gets_the_tasks_retry_policy(app, db):
    attempts = []

    @app.task(name="sql_deferred", retry=2, pass_context=True)
    def sql_deferred(context):
        attempts.append(context.job.attempts)
        raise ValueError("again")

    db.execute("select procrastinate_defer_job('sql_deferred')")  # no retry policy
    await one_shot(app)

    assert attempts == [0, 1, 2]
    assert job_row(db, 1)["status"] == "failed"
