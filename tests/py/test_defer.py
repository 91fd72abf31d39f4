"""Deferring jobs, against a real database."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging

import psycopg
import pytest

from procrastinate import App, PsycopgConnector, RetryStrategy, exceptions, utils

from polling import poll

UTC = datetime.timezone.utc


class RecordingConnector(PsycopgConnector):
    """A real connector that also records the queries it sends."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.queries = []

    async def _execute(self, query, arguments, fetch):
        self.queries.append(query)
        return await super()._execute(query, arguments, fetch)


def job_rows(db):
    return db.execute("select * from procrastinate_jobs order by id").fetchall()


def sequence_used(db):
    return db.execute("select is_called from procrastinate_jobs_id_seq").fetchone()[
        "is_called"
    ]


async def test_defer_async_returns_an_id_with_id(app, db):
    @app.task(name="sum_task")
    def sum_task(a, b):
        return a + b

    job = await sum_task.defer_async(a=3, b=5)
    assert job == 1 and job.id == 1 and isinstance(job, int)
    (row,) = job_rows(db)
    assert (row["task_name"], row["args"], row["queue_name"], row["priority"]) == (
        "sum_task",
        {"a": 3, "b": 5},
        "default",
        0,
    )
    assert (row["status"], row["lock"], row["queueing_lock"], row["scheduled_at"]) == (
        "todo",
        None,
        None,
        None,
    )
    assert row["max_attempts"] is None  # retry=False: never retried


def test_defer_sync(sync_app, db):
    @sync_app.task(name="t", queue="q", priority=5, lock="l", queueing_lock="ql")
    def t(x):
        pass

    assert t.defer(x=1).id == 1
    (row,) = job_rows(db)
    assert (row["queue_name"], row["priority"], row["lock"], row["queueing_lock"]) == (
        "q",
        5,
        "l",
        "ql",
    )


async def test_retry_policy_travels_with_the_job(app, db):
    @app.task(name="forever", retry=True)
    def forever():
        pass

    @app.task(name="three", retry=3)
    def three():
        pass

    @app.task(
        name="custom",
        retry=RetryStrategy(
            max_attempts=5,
            wait=1,
            linear_wait=2,
            exponential_wait=3,
            retry_exceptions=[KeyError, exceptions.AppNotOpen],
        ),
    )
    def custom():
        pass

    for task in (forever, three, custom):
        await task.defer_async()
    rows = {row["task_name"]: row for row in job_rows(db)}
    assert rows["forever"]["max_attempts"] == 0
    assert rows["three"]["max_attempts"] == 3
    custom_row = rows["custom"]
    assert (
        custom_row["max_attempts"],
        custom_row["retry_wait"],
        custom_row["retry_linear_wait"],
        custom_row["retry_exponential_wait"],
    ) == (5, 1, 2, 3)
    assert custom_row["retry_exceptions"] == [
        "KeyError",
        "procrastinate.exceptions.AppNotOpen",
    ]


async def test_schedule(app, db):
    @app.task(name="t")
    def t():
        pass

    at = datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    await t.configure(schedule_at=at).defer_async()
    await t.configure(schedule_in={"hours": 2}).defer_async()
    first, second = job_rows(db)
    assert first["scheduled_at"] == at
    # The delay travels as seconds, added to the clock of the defer's own
    # transaction: exactly 2 h after the job's creation.
    assert second["scheduled_at"] - second["created_at"] == datetime.timedelta(hours=2)


def test_schedule_in_estimate_follows_the_clock(app, monkeypatch):
    """The Job's own scheduled_at (for reading only) is this process's clock
    plus the delay."""
    now = datetime.datetime(2030, 1, 1, tzinfo=UTC)
    monkeypatch.setattr(utils, "utcnow", lambda: now)
    deferrer = app.configure_task("t", schedule_in={"minutes": 90})
    assert deferrer.job.scheduled_at == now + datetime.timedelta(minutes=90)


async def test_batch_defer_one_call_ids_in_order(db_dsn, db):
    connector = RecordingConnector(conninfo=db_dsn)
    app = App(connector=connector)

    @app.task(name="t")
    def t(i):
        pass

    async with app.open_async():
        ids = await t.batch_defer_async(*({"i": i} for i in range(50)))
        single = await t.defer_async(i=99)
    assert ids == list(range(1, 51)) and all(job_id.id == job_id for job_id in ids)
    assert single == 51
    assert len(connector.queries) == 2
    assert all(
        "procrastinate_defer_jobs_v2(%(jobs)s::jsonb)" in q for q in connector.queries
    )
    assert [row["args"]["i"] for row in job_rows(db)] == [*range(50), 99]


def test_batch_defer_sync(sync_app, db):
    @sync_app.task(name="t")
    def t(i):
        pass

    assert t.batch_defer({"i": 1}, {"i": 2}) == [1, 2]
    assert t.batch_defer() == []


async def test_batch_is_all_or_nothing(app, db):
    @app.task(name="t")
    def t(i):
        pass

    with pytest.raises(exceptions.AlreadyEnqueued):
        await t.configure(queueing_lock="same").batch_defer_async({"i": 1}, {"i": 2})
    assert job_rows(db) == []


async def test_queueing_lock(app, db):
    @app.task(name="t", queueing_lock="only-one")
    def t():
        pass

    await t.defer_async()
    with pytest.raises(exceptions.AlreadyEnqueued):
        await t.defer_async()
    with pytest.raises(exceptions.AlreadyEnqueued):
        await asyncio.to_thread(t.defer)
    await t.configure(queueing_lock="another").defer_async()
    assert len(job_rows(db)) == 2


async def test_unserialisable_arguments_write_nothing(app, db):
    @app.task(name="t")
    def t(**kwargs):
        pass

    for bad in (object(), {1, 2}, float("nan")):
        with pytest.raises(exceptions.UnserializableArguments):
            await t.defer_async(x=bad)
        with pytest.raises(TypeError):
            await t.batch_defer_async({"x": 1}, {"x": bad})
    assert job_rows(db) == []
    assert not sequence_used(db)


def test_unserialisable_arguments_write_nothing_sync(sync_app, db):
    @sync_app.task(name="t")
    def t(**kwargs):
        pass

    with pytest.raises(exceptions.UnserializableArguments):
        t.defer(x=object())
    assert job_rows(db) == [] and not sequence_used(db)


async def test_custom_json_dumps_and_loads(db_dsn, db):
    def dumps(value):
        return json.dumps(value, default=lambda o: o.isoformat())

    def loads(text):
        return {"loaded_by": "custom", **json.loads(text)}

    app = App(
        connector=PsycopgConnector(conninfo=db_dsn, json_dumps=dumps, json_loads=loads)
    )

    @app.task(name="t")
    def t(when):
        pass

    async with app.open_async():
        await t.defer_async(when=datetime.datetime(2030, 1, 1, tzinfo=UTC))
        (job,) = await app.job_manager.list_jobs_async()
    assert job.task_kwargs == {
        "loaded_by": "custom",
        "when": "2030-01-01T00:00:00+00:00",
    }


async def test_configure_task_by_name(app, db):
    await app.configure_task("not.known.here", queue="elsewhere").defer_async(a=1)
    with pytest.raises(exceptions.TaskNotFound):
        await app.configure_task("not.known.here", allow_unknown=False).defer_async()
    (row,) = job_rows(db)
    assert (row["task_name"], row["queue_name"], row["args"]) == (
        "not.known.here",
        "elsewhere",
        {"a": 1},
    )


async def test_known_task_by_name_keeps_its_retry_policy(app, db):
    @app.task(name="retried", retry=4)
    def retried():
        pass

    await app.configure_task("retried", allow_unknown=False).defer_async()
    assert job_rows(db)[0]["max_attempts"] == 4


async def test_invalid_definition_from_sql(app, db):
    with pytest.raises(exceptions.InvalidJobDefinition) as info:
        await app.configure_task("").defer_async()
    assert isinstance(info.value, ValueError) and info.value.sqlstate == "PT001"


async def test_defer_on_a_database_without_schema(empty_db_dsn):
    app = App(connector=PsycopgConnector(conninfo=empty_db_dsn))
    async with app.open_async():
        with pytest.raises(exceptions.SchemaNotInstalled):
            await app.configure_task("t").defer_async()


async def test_concurrent_defers_with_the_same_queueing_lock(db_dsn, db):
    """Two transactions racing for one queueing lock: exactly one wins, the
    other gets AlreadyEnqueued (even when both pass validation first)."""
    apps = [
        App(connector=PsycopgConnector(conninfo=db_dsn, min_size=1)) for _ in range(2)
    ]
    for app in apps:
        await app.open_async()
    try:
        results = await asyncio.gather(
            *(
                app.configure_task("t", queueing_lock="race").defer_async()
                for app in apps
                for _ in range(5)
            ),
            return_exceptions=True,
        )
    finally:
        for app in apps:
            await app.close_async()
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(results) - len(errors) == 1
    assert all(isinstance(e, exceptions.AlreadyEnqueued) for e in errors), errors


async def test_queueing_lock_race_is_already_enqueued(app, db, db_dsn):
    """A defer that passes validation while another transaction holds the
    same queueing lock uncommitted fails on the unique index: still
    AlreadyEnqueued."""
    import psycopg

    with psycopg.connect(db_dsn) as holder:
        holder.execute(
            "select * from procrastinate_defer_jobs_v2(%s::jsonb)",
            ['[{"task_name": "t", "queueing_lock": "race"}]'],
        )
        racing = asyncio.ensure_future(
            app.configure_task("t", queueing_lock="race").defer_async()
        )
        # Until the racing defer waits for the holder's transaction (on the
        # unique index), or ends: it must not.
        await poll(
            lambda: racing.done()
            or db.execute(
                "select exists (select from pg_stat_activity where wait_event_type = 'Lock'"
                " and %s = any(pg_blocking_pids(pid))) as blocked",
                [holder.info.backend_pid],
            ).fetchone()["blocked"],
            "the racing defer to block",
        )
        assert not racing.done()  # waits on the unique index
        holder.commit()
        with pytest.raises(exceptions.AlreadyEnqueued):
            await racing


async def test_already_enqueued_is_caused_by_a_unique_violation_naming_the_lock(app):
    """procrastinate 3.x's chain: AlreadyEnqueued from exceptions.UniqueViolation
    (constraint_name, queueing_lock), from the driver's error."""
    await app.configure_task("t", queueing_lock='a "quoted" lock').defer_async()
    with pytest.raises(exceptions.AlreadyEnqueued) as taken:
        await app.configure_task("t", queueing_lock='a "quoted" lock').defer_async()
    with pytest.raises(exceptions.AlreadyEnqueued) as twice:  # twice in one batch
        await app.configure_task("t", queueing_lock="dup").batch_defer_async({}, {})
    for raised, lock in ((taken.value, 'a "quoted" lock'), (twice.value, "dup")):
        cause = raised.__cause__
        assert isinstance(cause, exceptions.UniqueViolation), cause
        assert cause.constraint_name == exceptions.QUEUEING_LOCK_INDEX
        assert cause.queueing_lock == lock
        assert isinstance(cause.__cause__, psycopg.Error)
        assert cause.__cause__.sqlstate == "PT002"


def test_a_defer_error_in_sql_carries_a_short_context(db):
    """What psql shows under the message and hint of a refused
    procrastinate_defer_job: the call chain, a line each, not the statement
    that builds the job object."""
    with pytest.raises(psycopg.Error) as refused:
        db.execute("select procrastinate_defer_job('', '{}')")
    diag = refused.value.diag
    assert diag.sqlstate == "PT001"
    assert diag.message_primary == (
        "job #1 of 1 is invalid: it needs a task_name, a non-empty string"
    )
    context = diag.context.splitlines()
    assert len(context) <= 5, diag.context
    assert "jsonb_build_object" not in diag.context


def test_a_defer_logs_before_and_after_as_procrastinate_3_does(sync_app, caplog):
    caplog.set_level(logging.DEBUG, logger="procrastinate")
    sync_app.configure_task("logged", queue="q").batch_defer({"a": 1}, {"a": 2})
    actions = [
        (record.levelname, record.action, record.getMessage(), record.jobs)
        for record in caplog.records
        if getattr(record, "action", None) in ("about_to_defer_jobs", "jobs_deferred")
    ]
    assert [action[:3] for action in actions] == [
        ("DEBUG", "about_to_defer_jobs", "About to defer 2 jobs"),
        ("INFO", "jobs_deferred", "Deferred 2 jobs"),
    ]
    before, after = actions[0][3], actions[1][3]
    assert [job["id"] for job in before] == [None, None]
    assert [job["task_kwargs"] for job in after] == [{"a": 1}, {"a": 2}]
    assert all(job["id"] for job in after)
