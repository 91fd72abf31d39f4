"""The overview's activity (procrastinate.dashboard.activity): SQL counts the
jobs per bucket; a dashboard keeps the buckets that are over and asks SQL
for the newer ones only, so that a refresh does not read a day of jobs."""

from __future__ import annotations

import datetime

import psycopg

import procrastinate
from procrastinate.dashboard.activity import Activity

NOW = datetime.datetime(2026, 3, 1, 12, 0, 30, tzinfo=datetime.timezone.utc)


def finish(db: psycopg.Connection, queue: str, status: str, at: datetime.datetime) -> None:
    """A job that runs and ends at ``at``: its end records the 'succeeded' or
    'failed' event the charts count (jobs end in time order, as here)."""
    row = db.execute(
        "insert into procrastinate_jobs (queue_name, task_name, status, created_at)"
        " values (%s, 't', 'doing', %s) returning id",
        [queue, at],
    ).fetchone()
    db.execute(
        "update procrastinate_jobs set status = %s, finished_at = %s where id = %s",
        [status, at, row["id"]],
    )


async def test_counts_per_bucket_then_only_new_buckets_are_read(
    app: procrastinate.App, db: psycopg.Connection
):
    minutes = datetime.timedelta(minutes=1)
    finish(db, "a", "succeeded", NOW - 10 * minutes)
    finish(db, "a", "failed", NOW - 10 * minutes)
    finish(db, "b", "succeeded", NOW)
    activity = Activity()
    data = await activity.series(app.connector, "hour", NOW)
    assert data["step"] == 60 and data["buckets"] == 60
    assert data["start"] == int(NOW.timestamp()) // 60 * 60 + 60 - 3600
    assert data["queues"]["a"]["succeeded"][49] == 1
    assert data["queues"]["a"]["failed"][49] == 1
    assert data["queues"]["b"]["succeeded"][59] == 1
    assert sum(data["queues"]["a"]["succeeded"]) == 1

    # a job ending now is counted at the next refresh; one written into a
    # bucket already over is not read again (kept from the first read)
    finish(db, "b", "succeeded", NOW + datetime.timedelta(seconds=5))
    finish(db, "a", "succeeded", NOW - 10 * minutes)
    later = await activity.series(app.connector, "hour", NOW + datetime.timedelta(seconds=10))
    assert later["queues"]["b"]["succeeded"][59] == 2
    assert later["queues"]["a"]["succeeded"][49] == 1
    # a new dashboard reads it all from SQL
    fresh = await Activity().series(app.connector, "hour", NOW + datetime.timedelta(seconds=10))
    assert fresh["queues"]["a"]["succeeded"][49] == 2

    # an hour on, the window moved: the old buckets are gone
    moved = await activity.series(app.connector, "hour", NOW + 61 * minutes)
    assert moved["queues"] == {}
    assert min(activity.kept["hour"]) >= moved["start"]


async def test_totals_of_the_last_hour_and_day(app: procrastinate.App, db: psycopg.Connection):
    now = datetime.datetime.now(datetime.timezone.utc)
    finish(db, "q", "succeeded", now - datetime.timedelta(days=2))
    finish(db, "q", "failed", now - datetime.timedelta(hours=3))
    finish(db, "q", "succeeded", now - datetime.timedelta(minutes=5))
    totals = await Activity().totals(app.connector)
    assert totals == {
        "q": {"succeeded_hour": 1, "failed_hour": 0, "succeeded_day": 1, "failed_day": 1}
    }
