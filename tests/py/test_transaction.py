"""defer_in_transaction: the job exists if and only if the caller's
transaction commits (sync and async psycopg connections)."""

from __future__ import annotations

import psycopg
import pytest

import procrastinate
from procrastinate import exceptions


def _app(db_dsn: str) -> procrastinate.App:
    app = procrastinate.App(
        connector=procrastinate.SyncPsycopgConnector(conninfo=db_dsn, min_size=1, max_size=2)
    )

    @app.task(name="ship", queue="orders")
    def ship(order_id: int) -> None: ...

    return app


def _jobs(db) -> list[dict]:
    return db.execute(
        "select task_name, queue_name, lock, args from procrastinate_jobs order by id"
    ).fetchall()


def test_commit_keeps_the_job(db_dsn, db):
    app = _app(db_dsn)
    with psycopg.connect(db_dsn) as connection:
        connection.execute("create table orders (id int)")
        connection.execute("insert into orders values (1)")
        job_id = procrastinate.defer_in_transaction(
            connection, app.tasks["ship"].configure(lock="order-1"), order_id=1
        )
        # Not visible outside the transaction before the commit.
        assert _jobs(db) == []
    assert job_id > 0
    assert _jobs(db) == [
        {"task_name": "ship", "queue_name": "orders", "lock": "order-1", "args": {"order_id": 1}}
    ]


def test_rollback_leaves_no_job(db_dsn, db):
    app = _app(db_dsn)
    with psycopg.connect(db_dsn) as connection:
        procrastinate.defer_in_transaction(connection, app.tasks["ship"], order_id=2)
        connection.rollback()
    assert _jobs(db) == []


def test_by_task_name_in_an_explicit_transaction(db_dsn, db):
    app = _app(db_dsn)
    with psycopg.connect(db_dsn, autocommit=True) as connection:
        with pytest.raises(RuntimeError), connection.transaction():
            procrastinate.defer_in_transaction(
                connection, app.configure_task("ship", queue="other"), order_id=3
            )
            raise RuntimeError("the caller's work failed")
        assert _jobs(db) == []
        with connection.transaction():
            procrastinate.defer_in_transaction(
                connection, app.configure_task("ship", queue="other"), order_id=4
            )
    assert [job["args"] for job in _jobs(db)] == [{"order_id": 4}]


def test_bad_arguments_write_nothing(db_dsn, db):
    app = _app(db_dsn)
    with psycopg.connect(db_dsn) as connection:
        with pytest.raises(exceptions.UnserializableArguments):
            procrastinate.defer_in_transaction(connection, app.tasks["ship"], order_id={1})
        # Nothing was sent: the transaction is still usable.
        connection.execute("select 1")
    assert _jobs(db) == []


def test_queueing_lock_taken_is_already_enqueued(db_dsn, db):
    app = _app(db_dsn)
    deferrer = app.tasks["ship"].configure(queueing_lock="only-one")
    with psycopg.connect(db_dsn) as connection:
        procrastinate.defer_in_transaction(connection, deferrer, order_id=5)
        with pytest.raises(exceptions.AlreadyEnqueued):
            procrastinate.defer_in_transaction(connection, deferrer, order_id=6)


async def test_async_commit_and_rollback(db_dsn, db):
    app = _app(db_dsn)
    async with await psycopg.AsyncConnection.connect(db_dsn) as connection:
        await procrastinate.defer_in_transaction_async(
            connection, app.tasks["ship"], order_id=7
        )
        await connection.rollback()
        assert _jobs(db) == []
        job_id = await procrastinate.defer_in_transaction_async(
            connection, app.tasks["ship"], order_id=8
        )
        assert _jobs(db) == []
        await connection.commit()
    rows = db.execute("select id, args from procrastinate_jobs").fetchall()
    assert rows == [{"id": job_id, "args": {"order_id": 8}}]


def test_rejects_other_objects(db_dsn):
    with psycopg.connect(db_dsn) as connection, pytest.raises(TypeError):
        procrastinate.defer_in_transaction(connection, "ship", order_id=1)  # type: ignore[arg-type]
