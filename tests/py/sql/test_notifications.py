"""NOTIFY delivery: one notification per statement, on the fixed channel,
with queue names of any length and characters in the payload."""

import json

import psycopg


def listen(conn: psycopg.Connection) -> None:
    conn.execute("listen procrastinate")


def received(conn: psycopg.Connection, timeout: float = 0.5) -> list[dict]:
    """Notifications delivered to conn within timeout seconds."""
    return [json.loads(n.payload) for n in conn.notifies(timeout=timeout, stop_after=None)]


def test_a_batch_defer_sends_one_notification_naming_its_queues(connect):
    listener, producer = connect(), connect()
    listen(listener)
    jobs = [{"task_name": "t", "queue_name": q} for q in ["a", "b", "a", "c"] * 25]
    producer.execute("select * from procrastinate_defer_jobs(%s::jsonb)", (json.dumps(jobs),))

    notes = received(listener)
    assert len(notes) == 1
    assert notes[0]["type"] == "job_available"
    assert sorted(notes[0]["queues"]) == ["a", "b", "c"]


def test_a_job_scheduled_for_later_wakes_nobody(connect):
    listener, producer = connect(), connect()
    listen(listener)
    producer.execute(
        "select procrastinate_defer_job('t', scheduled_at => now() + interval '1 hour')"
    )
    assert received(listener) == []


def test_hostile_queue_names_travel_in_the_payload(connect):
    listener, producer = connect(), connect()
    listen(listener)
    name = "q'\"$$%\n\u00e9\u4e2d" + "x" * 60
    producer.execute("select procrastinate_defer_job('t', queue_name => %s)", (name,))
    notes = received(listener)
    assert notes == [{"type": "job_available", "queues": [name]}]


def test_queues_too_long_for_a_payload_say_check_the_database(connect):
    listener, producer = connect(), connect()
    listen(listener)
    producer.execute("select procrastinate_defer_job('t', queue_name => %s)", ("q" * 10_000,))
    notes = received(listener)
    assert notes == [{"type": "job_available", "queues": None}]


def test_a_retry_due_now_wakes_workers(connect):
    listener, worker = connect(), connect()
    job_id = worker.execute("select procrastinate_defer_job('t', max_attempts => 0)").fetchone()[0]
    worker.execute("select * from procrastinate_fetch_jobs_v2(null, null, 1)")
    listen(listener)
    worker.execute(
        "select * from procrastinate_finish_jobs_v1(null, %s::jsonb)",
        (json.dumps([{"id": job_id, "attempt": 0, "status": "failed"}]),),
    )
    assert received(listener) == [{"type": "job_available", "queues": ["default"]}]


def test_an_abort_request_names_the_job(connect):
    listener, other = connect(), connect()
    job_id = other.execute("select procrastinate_defer_job('t')").fetchone()[0]
    other.execute("select * from procrastinate_fetch_jobs_v2(null, null, 1)")
    listen(listener)
    assert other.execute(
        "select procrastinate_cancel_job(%s, abort => true)", (job_id,)
    ).fetchone()[0]
    assert received(listener) == [{"type": "abort_requested", "job_ids": [job_id]}]


def test_resuming_a_queue_wakes_its_workers(connect):
    listener, operator = connect(), connect()
    operator.execute("select procrastinate_pause_queue('mail')")
    listen(listener)
    operator.execute("select procrastinate_resume_queue('mail')")
    assert received(listener) == [{"type": "job_available", "queues": ["mail"]}]


def test_notifications_wait_for_commit(connect):
    listener, producer = connect(), connect()
    listen(listener)
    with producer.transaction():
        producer.execute("select procrastinate_defer_job('t')")
        assert received(listener, timeout=0.3) == []
    assert len(received(listener)) == 1


def test_releasing_a_lock_wakes_the_workers_of_the_next_job(connect):
    listener, worker = connect(), connect()
    first = worker.execute("select procrastinate_defer_job('t', lock => 'L')").fetchone()[0]
    worker.execute("select procrastinate_defer_job('t', lock => 'L', queue_name => 'other')")
    worker.execute("select procrastinate_defer_job('t', lock => 'M', queue_name => 'third')")
    claimed = worker.execute("select id from procrastinate_fetch_jobs_v2(null, '{default}', 1)")
    assert [r[0] for r in claimed] == [first]
    listen(listener)
    worker.execute(
        "select * from procrastinate_finish_jobs_v1(null, %s::jsonb)",
        (json.dumps([{"id": first, "attempt": 0, "status": "succeeded"}]),),
    )
    # 'other' holds the next job of lock L; 'third' was never blocked.
    assert received(listener) == [{"type": "job_available", "queues": ["other"]}]


def hold_and_release(worker: psycopg.Connection, listener: psycopg.Connection, next_jobs) -> list:
    """Defers one holder per lock in 'default', then the next job of each lock
    as next_jobs says (lock, queue, scheduled_at or None), claims the holders
    and reports them in one call; returns what listener received then."""
    locks = [lock for lock, _, _ in next_jobs]
    holders = [
        worker.execute("select procrastinate_defer_job('t', lock => %s)", (lock,)).fetchone()[0]
        for lock in locks
    ]
    for lock, queue, scheduled_at in next_jobs:
        worker.execute(
            "select procrastinate_defer_job('t', lock => %s, queue_name => %s,"
            " scheduled_at => %s::timestamptz)",
            (lock, queue, scheduled_at),
        )
    claimed = worker.execute(
        "select id from procrastinate_fetch_jobs_v2(null, '{default}', %s)", (len(locks),)
    )
    assert sorted(r[0] for r in claimed) == sorted(holders)
    listen(listener)
    worker.execute(
        "select * from procrastinate_finish_jobs_v1(null, %s::jsonb)",
        (json.dumps([{"id": i, "attempt": 0, "status": "succeeded"} for i in holders]),),
    )
    return received(listener)


def test_releasing_many_locks_of_one_queue_names_it_once(connect):
    listener, worker = connect(), connect()
    notes = hold_and_release(worker, listener, [(f"L{i}", "default", None) for i in range(20)])
    assert notes == [{"type": "job_available", "queues": ["default"]}]


def test_releasing_locks_whose_next_jobs_are_in_two_queues_names_both(connect):
    # most next jobs in 'a': the lock whose next job is in 'c' must not be
    # left out because the others all name 'a'
    listener, worker = connect(), connect()
    next_jobs = [(f"L{i}", "a", None) for i in range(9)] + [("L9", "c", None)]
    notes = hold_and_release(worker, listener, next_jobs)
    assert [n["type"] for n in notes] == ["job_available"]
    assert sorted(notes[0]["queues"]) == ["a", "c"]


def test_a_released_lock_whose_next_job_is_due_names_its_queue(connect):
    # the next job of L9 is scheduled, due already, in another queue
    listener, worker = connect(), connect()
    past = "2000-01-01T00:00:00Z"
    next_jobs = [(f"L{i}", "a", None) for i in range(9)] + [("L9", "b", past)]
    notes = hold_and_release(worker, listener, next_jobs)
    assert [n["type"] for n in notes] == ["job_available"]
    assert sorted(notes[0]["queues"]) == ["a", "b"]


def test_a_released_lock_whose_next_job_is_scheduled_later_does_not_name_its_queue(connect):
    listener, worker = connect(), connect()
    later = "2999-01-01T00:00:00Z"
    next_jobs = [(f"L{i}", "a", None) for i in range(9)] + [("L9", "b", later)]
    notes = hold_and_release(worker, listener, next_jobs)
    assert notes == [{"type": "job_available", "queues": ["a"]}]
