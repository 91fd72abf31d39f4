"""procrastinate_settings.history across sessions and through the worker.

The event triggers read the setting once per statement: a change committed
by one session applies to the next statement of every other session, even
one whose trigger plans are cached, and an uncommitted change applies to
none. The pgTAP test tests/sql/events/the_history_setting_decides_which_events_are_written.sql
checks each level's events call by call; here a real worker runs jobs at
'outcomes'.
"""

from __future__ import annotations

import json

import psycopg


def defer(conn: psycopg.Connection, queue: str) -> int:
    row = conn.execute(
        "select id from procrastinate_defer_jobs_v2(%s::jsonb)",
        (json.dumps([{"task_name": "t", "queue_name": queue}]),),
    ).fetchone()
    assert row is not None
    return int(row[0])


def history(conn: psycopg.Connection, job_id: int) -> list[str]:
    rows = conn.execute(
        "select type::text from procrastinate_events where job_id = %s order by id", (job_id,)
    ).fetchall()
    return [r[0] for r in rows]


def run_one(conn: psycopg.Connection, queue: str) -> None:
    ((job_id, attempts),) = conn.execute(
        "select id, attempts from procrastinate_fetch_jobs_v2(null, array[%s], 1)", (queue,)
    ).fetchall()
    conn.execute(
        "select * from procrastinate_finish_jobs_v1(null, %s::jsonb)",
        (json.dumps([{"id": job_id, "attempt": attempts, "status": "succeeded"}]),),
    ).fetchall()


def test_a_committed_change_applies_to_the_next_statement_of_every_session(connect):
    owner, worker = connect(), connect()
    # the worker's session has run every trigger once: their plans are cached
    first = defer(worker, "a")
    run_one(worker, "a")
    assert history(owner, first) == ["deferred", "started", "succeeded"]

    with owner.transaction():
        owner.execute("update procrastinate_settings set history = 'none'")
        # not committed yet: the worker's statements still record everything
        before_commit = defer(worker, "b")
    assert history(owner, before_commit) == ["deferred"]

    after_commit = defer(worker, "c")
    run_one(worker, "c")
    assert history(owner, after_commit) == []

    owner.execute("update procrastinate_settings set history = 'outcomes'")
    run_one(worker, "b")  # deferred at full, run at outcomes: no started
    assert history(owner, before_commit) == ["deferred", "succeeded"]

    owner.execute("update procrastinate_settings set history = 'full'")
    again = defer(worker, "d")
    run_one(worker, "d")
    assert history(owner, again) == ["deferred", "started", "succeeded"]


async def test_a_worker_at_outcomes_leaves_the_ends_and_the_retries(app, db):
    db.execute("update procrastinate_settings set history = 'outcomes'")

    @app.task(name="ok")
    def ok() -> None:
        pass

    @app.task(name="flaky", retry=1)
    def flaky() -> None:
        raise ValueError("no")

    ok_id = await ok.defer_async()
    flaky_id = await flaky.defer_async()
    await app.run_worker_async(wait=False, install_signal_handlers=False, listen_notify=False)

    events = {
        job_id: [
            r["type"]
            for r in db.execute(
                "select type::text from procrastinate_events where job_id = %s order by id",
                (job_id,),
            ).fetchall()
        ]
        for job_id in (ok_id, flaky_id)
    }
    assert events[ok_id] == ["succeeded"]
    # its retry (scheduled, at once), then its final failure
    assert events[flaky_id] == ["scheduled", "deferred_for_retry", "failed"]
    statuses = {
        r["id"]: r["status"]
        for r in db.execute("select id, status::text as status from procrastinate_jobs").fetchall()
    }
    assert statuses == {ok_id: "succeeded", flaky_id: "failed"}
