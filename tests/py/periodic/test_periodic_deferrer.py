"""The periodic deferrer against a real database, with the clock pinned: the
deferrer is given ``now`` instead of sleeping."""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest

from procrastinate import Blueprint, exceptions, periodic
from procrastinate.worker import periodic_deferrer

# A multiple of 300: a tick of "*/5 * * * *" and of "* * * * * */10".
T = 1_800_000_000
EVERY_10_S = "* * * * * */10"


def job_rows(db, task_name=None):
    return db.execute(
        "select id, task_name, queue_name, priority, lock, queueing_lock, args, "
        "max_attempts, status::text as status from procrastinate_jobs "
        "where %(task)s::text is null or task_name = %(task)s::text order by id",
        {"task": task_name},
    ).fetchall()


def timestamps(db, task_name=None):
    return [row["args"]["timestamp"] for row in job_rows(db, task_name)]


@pytest.fixture
def every_10_s(app):
    @app.periodic(cron=EVERY_10_S, periodic_id="ten")
    @app.task(name="tick")
    def tick(timestamp):
        pass

    return tick


def test_cron_with_five_or_six_fields_and_the_timestamp_argument():
    assert list(periodic_deferrer.ticks_between("*/5 * * * *", T, T + 900)) == [
        T + 300, T + 600, T + 900,
    ]
    assert list(periodic_deferrer.ticks_between(EVERY_10_S, T, T + 25)) == [
        T + 10, T + 20,
    ]
    assert periodic_deferrer.latest_tick("*/5 * * * *", T + 420.5) == T + 300
    with pytest.raises(ValueError):
        periodic.validate_cron("* * * *")
    with pytest.raises(ValueError):
        periodic.validate_cron("* * * * * * *")


def test_procrastinate_names_are_importable_from_periodic():
    assert periodic.PeriodicDeferrer is periodic_deferrer.PeriodicDeferrer
    assert periodic.MAX_DELAY == 600
    assert periodic.MARGIN == 0.5


def test_seconds_to_next_tick(app, every_10_s):
    @app.periodic(cron="*/5 * * * *")
    @app.task(name="slow")
    def slow(timestamp):
        pass

    deferrer = periodic_deferrer.PeriodicDeferrer(app.periodic_registry)
    assert deferrer.seconds_to_next_tick(at=T + 2.5) == pytest.approx(7.5)


async def test_at_start_only_the_latest_tick_is_deferred(app, db):
    @app.periodic(cron="*/5 * * * *")
    @app.task(name="five")
    def five(timestamp):
        pass

    deferrer = periodic_deferrer.PeriodicDeferrer(app.periodic_registry)
    await deferrer.defer_due_ticks(now=T + 7 * 60)

    # T was missed (no worker ran then): procrastinate does not catch it up
    assert timestamps(db) == [T + 300]
    await deferrer.defer_due_ticks(now=T + 7 * 60 + 1)
    assert timestamps(db) == [T + 300]


async def test_at_start_a_tick_more_than_max_delay_late_is_ignored(app, db):
    @app.periodic(cron="*/5 * * * *")
    @app.task(name="five")
    def five(timestamp):
        pass

    deferrer = periodic_deferrer.PeriodicDeferrer(app.periodic_registry, max_delay=60)
    await deferrer.defer_due_ticks(now=T + 120)
    assert timestamps(db) == []

    await deferrer.defer_due_ticks(now=T + 301)
    assert timestamps(db) == [T + 300]


async def test_every_tick_since_the_last_one_is_deferred_in_order(app, db, every_10_s):
    deferrer = periodic_deferrer.PeriodicDeferrer(app.periodic_registry)
    await deferrer.defer_due_ticks(now=T + 1)
    await deferrer.defer_due_ticks(now=T + 35)
    await deferrer.defer_due_ticks(now=T + 36)

    assert timestamps(db) == [T, T + 10, T + 20, T + 30]


async def test_ticks_more_than_max_delay_late_are_skipped(app, db, every_10_s):
    deferrer = periodic_deferrer.PeriodicDeferrer(app.periodic_registry, max_delay=15)
    await deferrer.defer_due_ticks(now=T + 1)
    await deferrer.defer_due_ticks(now=T + 45)
    await deferrer.defer_due_ticks(now=T + 51)

    assert timestamps(db) == [T, T + 30, T + 40, T + 50]


async def test_the_job_has_the_configure_options_and_the_timestamp(app, db):
    options = {
        "queue": "cron",
        "priority": 7,
        "lock": "reports",
        "task_kwargs": {"region": "eu"},
    }

    @app.periodic(cron=EVERY_10_S, periodic_id="eu", **options)
    @app.task(name="report", retry=3)
    def report(timestamp, region):
        pass

    bp = Blueprint()

    @bp.periodic(cron=EVERY_10_S)
    @bp.task(name="cleanup", queue="maintenance")
    def cleanup(timestamp):
        pass

    app.add_tasks_from(bp, namespace="ops")

    deferrer = periodic_deferrer.PeriodicDeferrer(app.periodic_registry)
    await deferrer.defer_due_ticks(now=T + 1)
    await deferrer.defer_due_ticks(now=T + 11)

    rows = job_rows(db)
    assert [
        (r["task_name"], r["queue_name"], r["priority"], r["lock"], r["args"],
         r["max_attempts"])
        for r in rows
    ] == [
        ("report", "cron", 7, "reports", {"region": "eu", "timestamp": T}, 3),
        ("ops:cleanup", "maintenance", 0, None, {"timestamp": T}, None),
        ("report", "cron", 7, "reports", {"region": "eu", "timestamp": T + 10}, 3),
        ("ops:cleanup", "maintenance", 0, None, {"timestamp": T + 10}, None),
    ]
    # the registration is not modified by deferring
    assert app.periodic_registry.periodic_tasks[("report", "eu")].configure_kwargs == (
        options
    )


async def test_the_task_receives_the_timestamp(app, db):
    received = []

    @app.periodic(cron=EVERY_10_S)
    @app.task(name="tick", queue="cron")
    def tick(timestamp):
        received.append(timestamp)

    deferrer = periodic_deferrer.PeriodicDeferrer(app.periodic_registry)
    await deferrer.defer_due_ticks(now=T + 1)
    # the worker's own deferrer would defer the current tick of the real clock
    app.periodic_registry.periodic_tasks.clear()
    await app.run_worker_async(queues=["cron"], wait=False, install_signal_handlers=False)

    assert received == [T]
    assert [row["status"] for row in job_rows(db)] == ["succeeded"]


async def test_two_schedules_of_one_task_each_get_their_job(app, db):
    @app.periodic(cron=EVERY_10_S, periodic_id="a", task_kwargs={"who": "a"})
    @app.periodic(cron=EVERY_10_S, periodic_id="b", task_kwargs={"who": "b"})
    @app.task(name="tick")
    def tick(timestamp, who):
        pass

    deferrer = periodic_deferrer.PeriodicDeferrer(app.periodic_registry)
    await deferrer.defer_due_ticks(now=T + 1)

    assert sorted(row["args"]["who"] for row in job_rows(db)) == ["a", "b"]


async def test_each_tick_is_deferred_once_by_many_deferrers(app, db, every_10_s):
    deferrers = [
        periodic_deferrer.PeriodicDeferrer(app.periodic_registry) for _ in range(5)
    ]
    for now in (T + 1, T + 12, T + 25):
        await asyncio.gather(*(d.defer_due_ticks(now=now) for d in deferrers))

    assert timestamps(db) == [T, T + 10, T + 20]


async def test_a_lagging_deferrer_does_not_defer_a_tick_older_than_the_latest(
    app, db, every_10_s
):
    ahead = periodic_deferrer.PeriodicDeferrer(app.periodic_registry)
    await ahead.defer_due_ticks(now=T + 1)
    await ahead.defer_due_ticks(now=T + 21)
    assert timestamps(db) == [T, T + 10, T + 20]

    lagging = periodic_deferrer.PeriodicDeferrer(app.periodic_registry)
    await lagging.defer_due_ticks(now=T + 11)
    await lagging.defer_due_ticks(now=T + 21)

    assert timestamps(db) == [T, T + 10, T + 20]


async def test_a_crash_in_the_middle_of_a_defer_blocks_no_tick(app, db, db_dsn, every_10_s):
    # Another worker started deferring tick T, then died before committing.
    crashed = psycopg.connect(db_dsn)
    crashed.execute(
        "select procrastinate_defer_periodic_job_v1('tick', 'ten', %s::bigint, %s::jsonb)",
        [T, json.dumps({"task_name": "tick", "args": {"timestamp": T}})],
    )
    crashed_pid = crashed.info.backend_pid
    deferrer = periodic_deferrer.PeriodicDeferrer(app.periodic_registry)
    deferring = asyncio.create_task(deferrer.defer_due_ticks(now=T + 1))
    # The deferrer waits for the dying worker's transaction...
    for _ in range(200):
        waiting = db.execute(
            "select count(*) as n from pg_stat_activity "
            "where wait_event_type = 'Lock' and datname = current_database()"
        ).fetchone()["n"]
        if waiting:
            break
        await asyncio.sleep(0.05)
    assert waiting == 1
    assert not deferring.done()
    db.execute("select pg_terminate_backend(%s)", [crashed_pid])
    # ...which left nothing behind when it went.
    await asyncio.wait_for(deferring, 30)
    await deferrer.defer_due_ticks(now=T + 11)
    crashed.close()

    rows = job_rows(db)
    assert [row["args"]["timestamp"] for row in rows] == [T, T + 10]
    assert db.execute(
        "select task_name, periodic_id, defer_timestamp, job_id "
        "from procrastinate_periodic_defers"
    ).fetchall() == [
        {
            "task_name": "tick",
            "periodic_id": "ten",
            "defer_timestamp": T + 10,
            "job_id": rows[1]["id"],
        }
    ]


async def test_a_defer_that_failed_is_tried_again_at_the_next_wake_up(
    app, db, every_10_s, caplog
):
    db.execute(
        "alter function procrastinate_defer_periodic_job_v1(text, text, bigint, jsonb) "
        "rename to hidden"
    )
    deferrer = periodic_deferrer.PeriodicDeferrer(app.periodic_registry)
    await deferrer.defer_due_ticks(now=T + 1)
    assert timestamps(db) == []
    assert f"Could not defer periodic task tick for timestamp {T}, will try again" in (
        caplog.text
    )

    db.execute("alter function hidden(text, text, bigint, jsonb) "
               "rename to procrastinate_defer_periodic_job_v1")
    await deferrer.defer_due_ticks(now=T + 12)

    assert timestamps(db) == [T, T + 10]


async def test_a_taken_queueing_lock_skips_the_tick(app, db):
    @app.periodic(cron=EVERY_10_S)
    @app.task(name="tick", queueing_lock="only-one")
    def tick(timestamp):
        pass

    blocker = await tick.defer_async(timestamp=0)
    deferrer = periodic_deferrer.PeriodicDeferrer(app.periodic_registry)
    await deferrer.defer_due_ticks(now=T + 1)
    assert timestamps(db) == [0]

    assert await app.job_manager.cancel_job_by_id_async(blocker)
    await deferrer.defer_due_ticks(now=T + 11)
    assert timestamps(db) == [0, T + 10]


async def test_a_tick_that_cannot_be_deferred_does_not_stop_the_others(app, db, caplog):
    @app.periodic(cron=EVERY_10_S, periodic_id="bad", task_kwargs={"x": {1, 2}})
    @app.periodic(cron=EVERY_10_S, periodic_id="good")
    @app.task(name="tick")
    def tick(timestamp, x=None):
        pass

    deferrer = periodic_deferrer.PeriodicDeferrer(app.periodic_registry)
    await deferrer.defer_due_ticks(now=T + 1)
    await deferrer.defer_due_ticks(now=T + 11)

    assert timestamps(db) == [T, T + 10]
    assert caplog.text.count("Could not defer periodic task tick") == 2


async def test_run_without_periodic_task_returns(app, caplog):
    caplog.set_level("INFO")
    deferrer = periodic_deferrer.PeriodicDeferrer(app.periodic_registry)
    await asyncio.wait_for(deferrer.run(), 5)
    assert "No periodic task found" in caplog.text


def test_periodic_id_must_be_unique_per_task(app):
    @app.periodic(cron=EVERY_10_S)
    @app.task(name="tick")
    def tick(timestamp):
        pass

    with pytest.raises(exceptions.TaskAlreadyRegistered):
        app.periodic(cron="* * * * *")(tick)
