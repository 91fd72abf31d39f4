"""A fetched job whose args cannot be decoded fails alone (issue 14, item 6):
the fetch hands it back flagged (``Job.decode_error``, empty args), the
worker fails it with that reason, and the other jobs of the same fetch run.

The bad args are real: a connector whose ``json_loads`` refuses one job's
args (the way a custom decoder meets data it does not know), against a real
database.
"""

from __future__ import annotations

import json

import procrastinate
from procrastinate import jobs


def picky_loads(data):
    """json.loads, refusing args that hold the key "poison"."""
    value = json.loads(data)
    if isinstance(value, dict) and "poison" in value:
        raise ValueError("cannot decode a poisoned value")
    return value


def make_app(db_dsn: str, loads=picky_loads) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(
        conninfo=db_dsn, json_loads=loads, min_size=1, max_size=4
    )
    return procrastinate.App(connector=connector)


def defer_three(db, task_name: str = "collect") -> list[int]:
    """Three jobs of one task in one queue, the middle one poisoned."""
    ids = []
    for args in ({"i": 1}, {"poison": True}, {"i": 3}):
        (job_id,) = db.execute(
            "select procrastinate_defer_job(%s, %s::jsonb) as id",
            [task_name, json.dumps(args)],
        ).fetchone().values()
        ids.append(job_id)
    return ids


async def test_a_fetch_hands_back_an_undecodable_job_flagged(db_dsn, db):
    good1, bad, good3 = defer_three(db)
    app = make_app(db_dsn)
    async with app.open_async():
        worker_id = await app.job_manager.register_worker_async("w", None, 3)
        fetched = await app.job_manager.fetch_jobs_async(worker_id, None, 10)

    by_id = {job.id: job for job in fetched}
    assert sorted(by_id) == [good1, bad, good3]
    assert by_id[good1].task_kwargs == {"i": 1}
    assert by_id[good1].decode_error is None
    assert by_id[good3].task_kwargs == {"i": 3}
    flagged = by_id[bad]
    assert flagged.task_kwargs == {}
    assert flagged.decode_error is not None
    assert f"Could not decode the args of job {bad}" in flagged.decode_error
    assert "cannot decode a poisoned value" in flagged.decode_error
    # Flagged or not, all three are claimed by this worker.
    statuses = db.execute(
        "select status::text as status from procrastinate_jobs order by id"
    ).fetchall()
    assert [row["status"] for row in statuses] == ["doing"] * 3


async def test_args_that_decode_to_something_else_than_an_object_are_flagged(db_dsn, db):
    (job_id,) = defer_three(db)[:1]
    app = make_app(db_dsn, loads=lambda data: ["not", "a", "dict"])
    async with app.open_async():
        worker_id = await app.job_manager.register_worker_async("w", None, 3)
        fetched = await app.job_manager.fetch_jobs_async(worker_id, None, 1)

    (job,) = fetched
    assert job.id == job_id
    assert job.task_kwargs == {}
    assert "not to a JSON object" in (job.decode_error or "")


async def test_custom_json_loads_gets_bytes_as_psycopg_gives_them(db_dsn, db):
    defer_three(db)
    seen = []

    def loads(data):
        seen.append(type(data))
        return json.loads(data)

    app = make_app(db_dsn, loads=loads)
    async with app.open_async():
        worker_id = await app.job_manager.register_worker_async("w", None, 3)
        fetched = await app.job_manager.fetch_jobs_async(worker_id, None, 10)

    assert [job.decode_error for job in fetched] == [None, None, None]
    assert seen == [bytes, bytes, bytes]


def test_asdict_leaves_decode_error_out_unless_set():
    job = jobs.Job(queue="q", lock=None, queueing_lock=None, task_name="t")
    assert "decode_error" not in job.asdict()
    assert job.evolve(decode_error="bad").asdict()["decode_error"] == "bad"


async def test_the_worker_fails_the_undecodable_job_and_runs_the_others(db_dsn, db):
    good1, bad, good3 = defer_three(db)
    app = make_app(db_dsn)
    ran = []

    @app.task(name="collect")
    def collect(i=None, poison=None):
        ran.append((i, poison))

    async with app.open_async():
        # One fetch of three: the bad row must not fail the fetch.
        await app.run_worker_async(
            wait=False, concurrency=3, install_signal_handlers=False, listen_notify=False
        )

    assert sorted(ran, key=repr) == [(1, None), (3, None)]  # the poisoned job never ran
    rows = {
        row["id"]: row
        for row in db.execute(
            "select id, status::text as status, attempts, last_error "
            "from procrastinate_jobs"
        ).fetchall()
    }
    assert rows[good1]["status"] == "succeeded"
    assert rows[good3]["status"] == "succeeded"
    assert rows[bad]["status"] == "failed"
    assert rows[bad]["attempts"] == 1
    assert "Could not decode the args" in rows[bad]["last_error"]
    assert "cannot decode a poisoned value" in rows[bad]["last_error"]
