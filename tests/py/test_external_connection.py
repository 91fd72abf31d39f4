"""procrastinate 3.10's external connection: ``configure(connection=...)``,
``cancel_job_by_id``/``get_job_status`` with ``connection=`` and the
connectors' ``*_with_connection`` methods run on the caller's connection, in
its transaction (the transactional outbox). Written from the how-to's
description: an order row and its job commit together, or neither exists.
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest

import procrastinate
from procrastinate import exceptions, jobs


def _orders_and_jobs(db) -> tuple[list[int], list[dict]]:
    orders = [row["id"] for row in db.execute("select id from orders order by id")]
    found = db.execute(
        "select task_name, args, status::text from procrastinate_jobs order by id"
    ).fetchall()
    return orders, found


@pytest.fixture
def orders(db):
    db.execute("create table orders (id int primary key, state text default 'new')")


def test_a_job_and_the_callers_row_commit_together(sync_app, db_dsn, db, orders):
    @sync_app.task(name="process_order")
    def process_order(order_id: int) -> None: ...

    with psycopg.connect(db_dsn) as conn:
        conn.execute("insert into orders (id) values (%s)", [42])
        job_id = process_order.configure(connection=conn).defer(order_id=42)
        # the app's own pool does not see it before the commit
        with pytest.raises(exceptions.JobNotFound):
            sync_app.job_manager.get_job_status(job_id)
        # the caller's connection does
        assert sync_app.job_manager.get_job_status(job_id, connection=conn) == jobs.Status.TODO
        assert _orders_and_jobs(db) == ([], [])
        conn.commit()
    assert _orders_and_jobs(db) == (
        [42],
        [{"task_name": "process_order", "args": {"order_id": 42}, "status": "todo"}],
    )


def test_a_rollback_leaves_neither(sync_app, db_dsn, db, orders):
    @sync_app.task(name="process_order")
    def process_order(order_id: int) -> None: ...

    with psycopg.connect(db_dsn) as conn:
        conn.execute("insert into orders (id) values (%s)", [43])
        process_order.configure(connection=conn, queue="orders").batch_defer(
            {"order_id": 43}, {"order_id": 44}
        )
        conn.rollback()
    assert _orders_and_jobs(db) == ([], [])


async def test_async_defer_and_cancel_on_the_callers_connection(app, db_dsn, db, orders):
    @app.task(name="process_order")
    def process_order(order_id: int) -> None: ...

    async with await psycopg.AsyncConnection.connect(db_dsn) as conn:
        await conn.execute("insert into orders (id) values (%s)", [42])
        job_id = await process_order.configure(connection=conn).defer_async(order_id=42)
        await conn.commit()

        # a cancellation and the caller's update commit together...
        await conn.execute("update orders set state = 'cancelled' where id = 42")
        assert await app.job_manager.cancel_job_by_id_async(job_id, connection=conn)
        assert await app.job_manager.get_job_status_async(job_id) == jobs.Status.TODO
        await conn.rollback()
        # ...or are undone together
        assert db.execute("select state from orders").fetchone() == {"state": "new"}
        assert await app.job_manager.get_job_status_async(job_id) == jobs.Status.TODO

        await conn.execute("update orders set state = 'cancelled' where id = 42")
        assert await app.job_manager.cancel_job_by_id_async(job_id, connection=conn)
        assert (
            await app.job_manager.get_job_status_async(job_id, connection=conn)
            == jobs.Status.CANCELLED
        )
        await conn.commit()
    assert await app.job_manager.get_job_status_async(job_id) == jobs.Status.CANCELLED
    assert db.execute("select state from orders").fetchone() == {"state": "cancelled"}


def test_sync_cancel_and_defer_by_name(sync_app, db_dsn, db):
    with psycopg.connect(db_dsn) as conn:
        job_id = sync_app.configure_task("by_name", connection=conn).defer(a=1)
        assert sync_app.job_manager.cancel_job_by_id(job_id, False, False, conn)
        conn.commit()
    assert _status(db, job_id) == "cancelled"


def test_a_taken_queueing_lock_fails_the_callers_transaction_a_savepoint_keeps_it(
    sync_app, db_dsn, db, orders
):
    deferrer = sync_app.configure_task("ship", queueing_lock="one")
    deferrer.defer()  # holds the queueing lock
    with psycopg.connect(db_dsn) as conn:
        conn.execute("insert into orders (id) values (1)")
        with pytest.raises(exceptions.AlreadyEnqueued):
            with conn.transaction():  # a savepoint
                sync_app.configure_task("ship", queueing_lock="one", connection=conn).defer()
        conn.execute("insert into orders (id) values (2)")  # the transaction lives on
        conn.commit()
    assert _orders_and_jobs(db)[0] == [1, 2]
    assert len(_orders_and_jobs(db)[1]) == 1


def test_the_connectors_query_methods_on_a_connection(sync_app, db_dsn):
    connector = sync_app.connector
    with psycopg.connect(db_dsn) as conn:
        conn.execute("create temporary table t (v int)")
        connector.execute_query_with_connection(conn, "insert into t values (%(v)s)", v=7)
        assert connector.execute_query_one_with_connection(conn, "select v from t") == {"v": 7}
        assert connector.execute_query_all_with_connection(
            conn, "select v + %(d)s as v from t", d=1
        ) == [{"v": 8}]


async def test_the_async_connectors_query_methods_on_a_connection(app, db_dsn):
    connector = app.connector
    async with await psycopg.AsyncConnection.connect(db_dsn) as conn:
        await conn.execute("create temporary table t (v int)")
        await connector.execute_query_async_with_connection(
            conn, "insert into t values (%(v)s)", v=7
        )
        assert await connector.execute_query_one_async_with_connection(
            conn, "select v from t"
        ) == {"v": 7}
        assert await connector.execute_query_all_async_with_connection(
            conn, "select v from t"
        ) == [{"v": 7}]


def test_an_async_connection_in_a_sync_call_is_refused_before_any_query(sync_app, db_dsn, db):
    async def connect() -> psycopg.AsyncConnection:
        return await psycopg.AsyncConnection.connect(db_dsn)

    loop = asyncio.new_event_loop()
    try:
        conn = loop.run_until_complete(connect())
        with pytest.raises(TypeError, match="_async form"):
            sync_app.configure_task("t", connection=conn).defer()
        loop.run_until_complete(conn.close())
    finally:
        loop.close()
    assert _orders_and_jobs_count(db) == 0


def test_a_connector_that_cannot_is_clear_about_it(db_dsn):
    class Other(procrastinate.BaseConnector):
        pass

    with pytest.raises(exceptions.ConnectorException, match="cannot run queries on a connection"):
        Other().execute_query_one_with_connection(object(), "select 1")


def _status(db, job_id: int) -> str:
    return db.execute(
        "select status::text as s from procrastinate_jobs where id = %s", [job_id]
    ).fetchone()["s"]


def _orders_and_jobs_count(db) -> int:
    return db.execute("select count(*) as n from procrastinate_jobs").fetchone()["n"]
