"""JobManager.defer_job, defer_job_async, batch_defer_jobs and
batch_defer_jobs_async (contract: shared/API.md §JobManager), through a real
database: the rows they write, and what they refuse without writing."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from procrastinate import exceptions, jobs

UTC = datetime.timezone.utc
AT = datetime.datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)

ROW = (
    "select id, queue_name, task_name, priority, lock, queueing_lock, args,"
    " status::text as status, scheduled_at, attempts, max_attempts, retry_wait,"
    " retry_linear_wait, retry_exponential_wait, retry_exceptions"
    " from procrastinate_jobs order by id"
)


def job(task_name="sums.add", **fields):
    values = {"queue": "default", "lock": None, "queueing_lock": None, **fields}
    return jobs.Job(task_name=task_name, **values)


def rows(db):
    return db.execute(ROW).fetchall()


def summary(db):
    """What a refused defer must leave unchanged: jobs and their events."""
    return (
        db.execute(
            "select id, task_name, status::text from procrastinate_jobs order by id"
        ).fetchall(),
        db.execute(
            "select job_id, type::text from procrastinate_events order by id"
        ).fetchall(),
    )


FULL = job(
    "mail.send",
    queue="emails",
    priority=7,
    lock="user:1",
    queueing_lock="mail:user:1",
    scheduled_at=AT,
    task_kwargs={"to": "a@b.c", "n": 3, "ok": True, "tags": ["x", "é"], "none": None},
)
POLICY = {
    "max_attempts": 5,
    "retry_wait": 1.5,
    "retry_linear_wait": 2.0,
    "retry_exponential_wait": 3.0,
    "retry_exceptions": ["ValueError"],
}
FULL_ROW = {
    "id": 1,
    "queue_name": "emails",
    "task_name": "mail.send",
    "priority": 7,
    "lock": "user:1",
    "queueing_lock": "mail:user:1",
    "args": {"to": "a@b.c", "n": 3, "ok": True, "tags": ["x", "é"], "none": None},
    "status": "todo",
    "scheduled_at": AT,
    "attempts": 0,
    "max_attempts": 5,
    "retry_wait": 1.5,
    "retry_linear_wait": 2.0,
    "retry_exponential_wait": 3.0,
    "retry_exceptions": ["ValueError"],
}


# --- what they write ----------------------------------------------------------------


async def test_defer_job_async_writes_every_field_and_returns_the_job(app, db):
    deferred = await app.job_manager.defer_job_async(FULL, retry_policy=POLICY)
    assert deferred == FULL.evolve(id=1, status="todo")
    assert rows(db) == [FULL_ROW]
    assert db.execute(
        "select job_id, type::text from procrastinate_events order by id"
    ).fetchall() == [
        {"job_id": 1, "type": "scheduled"},
        {"job_id": 1, "type": "deferred"},
    ]
    assert await app.job_manager.get_job_status_async(1) is jobs.Status.TODO


def test_defer_job_sync_writes_every_field_and_returns_the_job(sync_app, db):
    deferred = sync_app.job_manager.defer_job(FULL, retry_policy=POLICY)
    assert deferred == FULL.evolve(id=1, status="todo")
    assert rows(db) == [FULL_ROW]


async def test_defer_job_sync_form_from_a_thread_on_an_async_app(app, db):
    deferred = await asyncio.to_thread(app.job_manager.defer_job, job("t"))
    assert (deferred.id, deferred.status) == (1, "todo")
    assert [row["task_name"] for row in rows(db)] == ["t"]


async def test_defer_job_defaults_come_from_sql(app, db):
    # No policy: never retried (max_attempts null); no date: runs at once.
    await app.job_manager.defer_job_async(job("plain"))
    (row,) = rows(db)
    assert row == {
        **FULL_ROW,
        "queue_name": "default",
        "task_name": "plain",
        "priority": 0,
        "lock": None,
        "queueing_lock": None,
        "args": {},
        "scheduled_at": None,
        "max_attempts": None,
        "retry_wait": 0.0,
        "retry_linear_wait": 0.0,
        "retry_exponential_wait": 0.0,
        "retry_exceptions": None,
    }


async def test_a_relative_schedule_in_the_policy_is_counted_on_the_database_clock(
    app, db
):
    # scheduled_in wins over the job's scheduled_at (an estimate).
    await app.job_manager.defer_job_async(
        job("later", scheduled_at=AT), retry_policy={"scheduled_in": 60}
    )
    assert db.execute(
        "select scheduled_at - created_at as delay from procrastinate_jobs"
    ).fetchone() == {"delay": datetime.timedelta(seconds=60)}


async def test_batch_defer_jobs_async_writes_all_in_order(app, db):
    batch = [
        job("a", queue="q1"),
        job("b", queue="q2", priority=-3),
        job("c", lock="l"),
    ]
    deferred = await app.job_manager.batch_defer_jobs_async(
        batch, retry_policy={"max_attempts": 2}
    )
    assert deferred == [j.evolve(id=i, status="todo") for i, j in enumerate(batch, 1)]
    assert [
        (
            r["id"],
            r["task_name"],
            r["queue_name"],
            r["priority"],
            r["lock"],
            r["max_attempts"],
        )
        for r in rows(db)
    ] == [
        (1, "a", "q1", 0, None, 2),
        (2, "b", "q2", -3, None, 2),
        (3, "c", "default", 0, "l", 2),
    ]


def test_batch_defer_jobs_sync_writes_all_in_order(sync_app, db):
    deferred = sync_app.job_manager.batch_defer_jobs(
        [job("a"), job("b", task_kwargs={"x": 1})]
    )
    assert [(j.id, j.task_name, j.status) for j in deferred] == [
        (1, "a", "todo"),
        (2, "b", "todo"),
    ]
    assert [(r["task_name"], r["args"]) for r in rows(db)] == [
        ("a", {}),
        ("b", {"x": 1}),
    ]


async def test_batch_defer_jobs_takes_any_iterable_and_an_empty_one(app, db, sync_app):
    assert await app.job_manager.batch_defer_jobs_async(iter([job("a")])) != []
    assert await app.job_manager.batch_defer_jobs_async([]) == []
    assert sync_app.job_manager.batch_defer_jobs([]) == []
    assert [r["task_name"] for r in rows(db)] == ["a"]


# --- queueing lock --------------------------------------------------------------------


async def test_defer_job_async_refuses_a_taken_queueing_lock(app, db):
    manager = app.job_manager
    first = await manager.defer_job_async(job("a", queueing_lock="only-one"))
    before = summary(db)
    with pytest.raises(exceptions.AlreadyEnqueued):
        await manager.defer_job_async(job("b", queueing_lock="only-one"))
    assert summary(db) == before
    # The lock holds while the job waits: once it runs, the lock is free.
    assert [j.id for j in await manager.fetch_jobs_async(None, None, 1)] == [first.id]
    second = await manager.defer_job_async(job("b", queueing_lock="only-one"))
    assert second.id is not None and second.id > first.id


def test_defer_job_sync_refuses_a_taken_queueing_lock(sync_app, db):
    sync_app.job_manager.defer_job(job("a", queueing_lock="only-one"))
    before = summary(db)
    with pytest.raises(exceptions.AlreadyEnqueued):
        sync_app.job_manager.defer_job(job("b", queueing_lock="only-one"))
    assert summary(db) == before


async def test_batch_defer_jobs_async_is_all_or_nothing_on_a_taken_lock(app, db):
    manager = app.job_manager
    await manager.defer_job_async(job("held", queueing_lock="taken"))
    before = summary(db)
    batch = [job("ok1"), job("clash", queueing_lock="taken"), job("ok2")]
    with pytest.raises(exceptions.AlreadyEnqueued):
        await manager.batch_defer_jobs_async(batch)
    # Two jobs of one batch cannot share a queueing lock either.
    with pytest.raises(exceptions.AlreadyEnqueued):
        await manager.batch_defer_jobs_async(
            [job("x", queueing_lock="twice"), job("y", queueing_lock="twice")]
        )
    assert summary(db) == before


def test_batch_defer_jobs_sync_is_all_or_nothing_on_a_taken_lock(sync_app, db):
    sync_app.job_manager.defer_job(job("held", queueing_lock="taken"))
    before = summary(db)
    with pytest.raises(exceptions.AlreadyEnqueued):
        sync_app.job_manager.batch_defer_jobs(
            [job("ok"), job("clash", queueing_lock="taken")]
        )
    assert summary(db) == before


# --- bad input --------------------------------------------------------------------------

UNSERIALIZABLE = [
    pytest.param({"x": object()}, "not JSON-serialisable", id="object"),
    pytest.param({"x": float("nan")}, "not JSON-serialisable", id="nan"),
    pytest.param({"x": "a\x00b"}, "NUL character", id="nul"),
]


@pytest.mark.parametrize(("kwargs", "message"), UNSERIALIZABLE)
async def test_unserialisable_args_are_refused_before_any_query(
    app, db, kwargs, message
):
    manager = app.job_manager
    await manager.defer_job_async(job("kept"))
    before = summary(db)
    with pytest.raises(exceptions.UnserializableArguments, match=message):
        await manager.defer_job_async(job("bad", task_kwargs=kwargs))
    with pytest.raises(exceptions.UnserializableArguments, match=message):
        await manager.batch_defer_jobs_async(
            [job("ok"), job("bad", task_kwargs=kwargs)]
        )
    with pytest.raises(TypeError):  # UnserializableArguments is a TypeError too
        await asyncio.to_thread(manager.defer_job, job("bad", task_kwargs=kwargs))
    assert summary(db) == before
    # Nothing reached the database: no id of the sequence was used.
    assert (await manager.defer_job_async(job("next"))).id == 2


@pytest.mark.parametrize("kwargs", [p.values[0] for p in UNSERIALIZABLE])
def test_unserialisable_args_are_refused_by_the_sync_forms(sync_app, db, kwargs):
    manager = sync_app.job_manager
    with pytest.raises(exceptions.UnserializableArguments):
        manager.defer_job(job("bad", task_kwargs=kwargs))
    with pytest.raises(exceptions.UnserializableArguments):
        manager.batch_defer_jobs([job("ok"), job("bad", task_kwargs=kwargs)])
    assert summary(db) == ([], [])


INVALID = [
    pytest.param(job(""), None, "task_name", id="empty-task-name"),
    pytest.param(job("t", queue=""), None, "queue_name", id="empty-queue"),
    pytest.param(
        job("t", priority=10**10), None, "priority", id="priority-out-of-range"
    ),
    pytest.param(
        job("t"),
        {"max_attempts": -1},
        "negative max_attempts",
        id="negative-max-attempts",
    ),
    pytest.param(job("t"), {"retry_wait": "soon"}, "wait", id="wait-not-a-number"),
    pytest.param(
        job("t"),
        {"retry_exceptions": [1]},
        "retry_exceptions",
        id="exceptions-not-names",
    ),
    pytest.param(
        job("t"), {"scheduled_in": -5}, "scheduled_in", id="negative-schedule"
    ),
    pytest.param(job("t"), {"colour": "red"}, "colour", id="unknown-key"),
]


@pytest.mark.parametrize(("bad", "policy", "message"), INVALID)
async def test_an_invalid_job_is_refused_with_a_clear_error_and_nothing_written(
    app, db, bad, policy, message
):
    manager = app.job_manager
    await manager.defer_job_async(job("kept"))
    before = summary(db)
    with pytest.raises(exceptions.InvalidJobDefinition, match=message) as error:
        await manager.defer_job_async(bad, retry_policy=policy)
    assert error.value.sqlstate == "PT001"
    assert "job #1 of 1 is invalid" in str(error.value)
    # In a batch: all or nothing, and the message names the bad job (a bad
    # policy applies to every job: the first is named).
    if policy is None:
        batch, named = [job("ok"), bad, job("ok")], "job #2 of 3 is invalid"
    else:
        batch, named = [job("ok"), job("ok")], "job #1 of 2 is invalid"
    with pytest.raises(exceptions.InvalidJobDefinition, match=named):
        await manager.batch_defer_jobs_async(batch, retry_policy=policy)
    assert summary(db) == before


def test_an_invalid_job_is_refused_by_the_sync_forms(sync_app, db):
    manager = sync_app.job_manager
    with pytest.raises(exceptions.InvalidJobDefinition, match="task_name"):
        manager.defer_job(job(""))
    with pytest.raises(exceptions.InvalidJobDefinition, match="job #2 of 2"):
        manager.batch_defer_jobs([job("ok"), job("t", queue="")])
    with pytest.raises(exceptions.InvalidJobDefinition, match="max_attempts"):
        manager.batch_defer_jobs([job("ok")], retry_policy={"max_attempts": -1})
    assert summary(db) == ([], [])
