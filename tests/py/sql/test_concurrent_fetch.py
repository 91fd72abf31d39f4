"""Fetching from several sessions at once: SKIP LOCKED and lock arbitration.

These need real concurrent transactions, which pgTAP (one session) cannot
give.
"""

import json
import threading
import time

import psycopg


def defer(conn, jobs):
    return [
        row[0]
        for row in conn.execute(
            "select id from procrastinate_defer_jobs_v2(%s::jsonb)", (json.dumps(jobs),)
        )
    ]


def test_an_open_claim_is_skipped_not_waited_for(connect):
    first, second = connect(), connect()
    ids = defer(first, [{"task_name": "t"}, {"task_name": "t"}])

    with first.transaction():
        claimed_by_first = first.execute(
            "select id from procrastinate_fetch_jobs_v2(null, null, 1)"
        ).fetchall()
        # The first claim is not committed yet: the second session must get
        # the other job at once rather than wait on the row lock.
        second.execute("set lock_timeout = '2s'")
        claimed_by_second = second.execute(
            "select id from procrastinate_fetch_jobs_v2(null, null, 10)"
        ).fetchall()

    assert [r[0] for r in claimed_by_first] == [ids[0]]
    assert [r[0] for r in claimed_by_second] == [ids[1]]


def test_a_lock_holder_being_claimed_blocks_its_followers(connect):
    first, second = connect(), connect()
    ids = defer(first, [{"task_name": "t", "lock": "L"}, {"task_name": "t", "lock": "L"}])

    with first.transaction():
        first.execute("select id from procrastinate_fetch_jobs_v2(null, null, 1)")
        # Job 1 is being claimed (row locked, still todo in second's snapshot):
        # job 2 shares its lock and must not start before it.
        got = second.execute(
            "select id from procrastinate_fetch_jobs_v2(null, null, 10)"
        ).fetchall()
    assert got == []

    statuses = dict(first.execute("select id, status::text from procrastinate_jobs").fetchall())
    assert statuses == {ids[0]: "doing", ids[1]: "todo"}


def test_many_workers_never_run_two_jobs_of_a_lock_and_keep_its_order(connect):
    """Eight sessions fetch and finish concurrently over 3 locks x 30 jobs."""
    setup = connect()
    jobs = [
        {"task_name": "t", "lock": f"lock-{i % 3}", "args": {"n": i}} for i in range(90)
    ]
    defer(setup, jobs)
    errors = []
    start_order = []  # (lock, id) in the order jobs were claimed
    order_guard = threading.Lock()

    def worker(conn: psycopg.Connection) -> None:
        try:
            while True:
                rows = conn.execute(
                    "select id, lock, attempts from procrastinate_fetch_jobs_v2(null, null, 5)"
                ).fetchall()
                if not rows:
                    left = conn.execute(
                        "select count(*) from procrastinate_jobs where status <> 'succeeded'"
                    ).fetchone()[0]
                    if left == 0:
                        return
                    continue
                locks = [r[1] for r in rows]
                if len(set(locks)) != len(locks):
                    errors.append(f"one fetch returned two jobs of a lock: {rows}")
                with order_guard:
                    start_order.extend((r[1], r[0]) for r in rows)
                running = conn.execute(
                    "select lock, count(*) from procrastinate_jobs where status = 'doing' "
                    "group by lock having count(*) > 1"
                ).fetchall()
                if running:
                    errors.append(f"two running jobs share a lock: {running}")
                outcomes = [{"id": r[0], "attempt": r[2], "status": "succeeded"} for r in rows]
                conn.execute(
                    "select * from procrastinate_finish_jobs_v1(null, %s::jsonb)",
                    (json.dumps(outcomes),),
                )
        except Exception as exc:  # reported to the main thread below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(connect(),)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert len(start_order) == 90
    for lock in {"lock-0", "lock-1", "lock-2"}:
        claimed = [job_id for (job_lock, job_id) in start_order if job_lock == lock]
        assert claimed == sorted(claimed), f"{lock} jobs started out of order"


def test_concurrent_fetchers_never_get_the_same_job(connect):
    setup = connect()
    defer(setup, [{"task_name": "t"} for _ in range(300)])
    claimed = []
    guard = threading.Lock()

    def worker(conn):
        while True:
            rows = conn.execute(
                "select id from procrastinate_fetch_jobs_v2(null, null, 7)"
            ).fetchall()
            if not rows:
                return
            with guard:
                claimed.extend(r[0] for r in rows)

    threads = [threading.Thread(target=worker, args=(connect(),)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert len(claimed) == 300
    assert len(set(claimed)) == 300


def test_a_claim_racing_a_new_head_of_its_lock_claims_it_not(connect):
    """The claim of all queues does not check each lock again before claiming:
    only a defer of a job ranked before a head, claimed by another session
    meanwhile, can take the lock. The unique index on running locks stops
    the second claim, which is made again with the check: no error, and the
    lock still runs one job."""
    first, second, observer = connect(), connect(), connect()
    (follower,) = defer(first, [{"task_name": "t", "lock": "L"}])
    got: list = []
    errors: list = []

    with first.transaction():
        (new_head,) = defer(first, [{"task_name": "t", "lock": "L", "priority": 10}])
        first.execute("select id from procrastinate_fetch_jobs_v2(null, null, 1)")

        def claim() -> None:
            try:
                got.extend(
                    second.execute(
                        "select id from procrastinate_fetch_jobs_v2(null, null, 10)"
                    ).fetchall()
                )
            except psycopg.Error as exc:  # pragma: no cover - the failure reported below
                errors.append(exc)

        thread = threading.Thread(target=claim)
        thread.start()
        # The second session saw the follower as the head of a free lock, and
        # now waits on the unique index for the first session's claim.
        pid = second.info.backend_pid
        deadline = time.monotonic() + 10
        while not observer.execute(
            "select wait_event_type = 'Lock' from pg_stat_activity where pid = %s", (pid,)
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the second claim never waited"
            time.sleep(0.01)
    thread.join(10)

    assert errors == []
    assert got == []
    statuses = dict(first.execute("select id, status::text from procrastinate_jobs").fetchall())
    assert statuses == {new_head: "doing", follower: "todo"}
