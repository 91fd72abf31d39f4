"""The psycopg 3 connectors: opening, sync/async use, bridging, transactions."""

from __future__ import annotations

import asyncio
import threading

import psycopg_pool
import pytest

from procrastinate import (
    App,
    PsycopgConnector,
    SyncPsycopgConnector,
    exceptions,
)
from procrastinate import (
    connector as connector_module,
)


def test_dsn_is_an_alias_of_conninfo():
    assert PsycopgConnector(dsn="dbname=x")._pool_args == {"conninfo": "dbname=x"}
    assert SyncPsycopgConnector(dsn="dbname=x")._pool_args == {"conninfo": "dbname=x"}
    with pytest.raises(TypeError):
        PsycopgConnector(dsn="a", conninfo="b")


async def test_libpq_environment_is_used(db_name, monkeypatch):
    monkeypatch.setenv("PGDATABASE", db_name)
    app = App(connector=PsycopgConnector(min_size=1))
    async with app.open_async():
        assert await app.check_connection_async()


async def test_execute_query_variants(app):
    connector = app.connector
    assert await connector.execute_query_one_async("select 1 as one") == {"one": 1}
    assert (
        await connector.execute_query_one_async(
            "select 1 from procrastinate_jobs limit 1"
        )
        is None
    )
    assert await connector.execute_query_all_async(
        "select x from generate_series(1, %(n)s) as x", n=3
    ) == [{"x": 1}, {"x": 2}, {"x": 3}]
    assert await connector.execute_query_async("select 1") is None
    # No arguments: "%" is a plain character.
    assert await connector.execute_query_one_async("select '100%' as pct") == {
        "pct": "100%"
    }
    assert await connector.execute_query_one_async(
        "select %(d)s::jsonb as d", d={"a": [1]}
    ) == {"d": {"a": [1]}}


async def test_sync_methods_are_awaitable_inside_the_loop(app):
    # The quickstart: await connector.execute_query_one(...)
    assert await app.get_connector().execute_query_one("select 2 as two") == {"two": 2}
    assert await app.connector.execute_query_all("select 3 as x") == [{"x": 3}]


async def test_sync_methods_from_another_thread_run_on_the_loop(app):
    result = await asyncio.to_thread(app.connector.execute_query_one, "select 4 as x")
    assert result == {"x": 4}
    job_id = await asyncio.to_thread(app.configure_task("t").defer)
    assert await app.job_manager.get_job_status_async(job_id)


async def test_sync_job_manager_call_inside_the_loop_is_refused(app):
    with pytest.raises(exceptions.SyncCallInEventLoop):
        app.configure_task("t").defer()
    with pytest.raises(exceptions.SyncCallInEventLoop):
        app.job_manager.list_jobs()
    assert await app.job_manager.list_jobs_async() == []


def test_async_connector_used_synchronously(db_dsn):
    app = App(connector=PsycopgConnector(conninfo=db_dsn, min_size=1))
    with pytest.raises(exceptions.AppNotOpen):
        app.configure_task("t").defer()
    with app.open():
        job_id = app.configure_task("t").defer()
        assert app.connector.execute_query_one(
            "select count(*) as n from procrastinate_jobs"
        ) == {"n": 1}
        assert app.job_manager.get_job_status(job_id).value == "todo"
        assert app.connector.check() is False
    with pytest.raises(exceptions.AppNotOpen):
        app.configure_task("t").defer()


def test_async_connector_open_in_a_loop_of_another_thread(db_dsn):
    """A sync caller (e.g. a sync task in a worker thread) uses the pool of a
    loop running in another thread."""
    app = App(connector=PsycopgConnector(conninfo=db_dsn, min_size=1))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(app.connector.open_async(), loop).result(10)
        assert app.configure_task("t").defer() == 1
        assert [job.id for job in app.job_manager.list_jobs()] == [1]
        asyncio.run_coroutine_threadsafe(app.close_async(), loop).result(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def test_connector_opened_on_a_stopped_loop_falls_back_to_a_sync_pool(db_dsn):
    """An async fixture opens the app, a sync test uses it while that loop
    is not running: synchronous calls go through a pool of their own
    (procrastinate 3.x falls back to a synchronous connection), closed with
    the app on its loop."""
    app = App(connector=PsycopgConnector(conninfo=db_dsn, min_size=1))
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(app.open_async())
        job_id = app.configure_task("t").defer()
        assert app.job_manager.get_job_status(job_id).value == "todo"
        assert app.connector.execute_query_one(
            "select count(*) as n from procrastinate_jobs"
        ) == {"n": 1}
        fallback = app.connector.get_sync_connector()
        assert fallback is not app.connector

        loop.run_until_complete(app.close_async())
    finally:
        loop.close()
    with pytest.raises(exceptions.AppNotOpen):
        fallback.execute_query("select 1")
    with pytest.raises(exceptions.AppNotOpen):
        app.configure_task("t").defer()


def test_connector_opened_on_a_closed_loop_works_and_closes(db_dsn):
    app = App(connector=PsycopgConnector(conninfo=db_dsn, min_size=1))

    async def open_only():
        await app.open_async()

    asyncio.run(open_only())
    assert app.configure_task("t").defer() == 1
    asyncio.run(app.close_async())
    with pytest.raises(exceptions.AppNotOpen):
        app.configure_task("t").defer()


async def test_not_open(db_dsn):
    connector = PsycopgConnector(conninfo=db_dsn)
    with pytest.raises(exceptions.AppNotOpen):
        await connector.execute_query_async("select 1")
    with pytest.raises(exceptions.AppNotOpen):
        _ = connector.pool
    sync = SyncPsycopgConnector(conninfo=db_dsn)
    with pytest.raises(exceptions.AppNotOpen):
        sync.execute_query("select 1")


async def test_open_async_twice_and_external_pool(db_dsn):
    pool = psycopg_pool.AsyncConnectionPool(db_dsn, min_size=1, open=False)
    await pool.open()
    connector = PsycopgConnector()
    app = App(connector=connector)
    await app.open_async(pool)
    await app.open_async()  # already open: nothing happens
    assert connector.pool is pool
    await app.close_async()
    assert not pool.closed  # not ours to close
    assert (await pool.getconn()) is not None
    await pool.close()


async def test_pool_factory(db_dsn):
    connector = PsycopgConnector(
        conninfo=db_dsn, pool_factory=psycopg_pool.AsyncNullConnectionPool
    )
    async with App(connector=connector).open_async() as app:
        assert isinstance(connector.pool, psycopg_pool.AsyncNullConnectionPool)
        assert await app.check_connection_async()


def test_sync_connector_external_pool(db_dsn):
    pool = psycopg_pool.ConnectionPool(db_dsn, min_size=1, open=True)
    app = App(connector=SyncPsycopgConnector())
    app.open(pool)
    app.configure_task("t").defer()
    app.close()
    assert not pool.closed
    pool.close()


def test_sync_connector_has_no_async_side(sync_app):
    with pytest.raises(exceptions.SyncConnectorConfigurationError):
        asyncio.run(sync_app.connector.execute_query_async("select 1"))
    with pytest.raises(exceptions.SyncConnectorConfigurationError):
        asyncio.run(sync_app.job_manager.list_jobs_async())


async def test_transaction_rolls_back_on_error(app):
    with pytest.raises(RuntimeError):
        async with app.connector.transaction_async() as tx:
            await tx.execute_query_async("create table t_rollback (x int)")
            raise RuntimeError
    async with app.connector.transaction_async() as tx:
        row = await tx.execute_query_one_async("select to_regclass('t_rollback') as t")
        assert row == {"t": None}


def test_sync_transaction(sync_app):
    with sync_app.connector.transaction() as tx:
        tx.execute_query("create table t_commit (x int)")
        tx.execute_query("insert into t_commit values (%(x)s)", x=1)
    assert sync_app.connector.execute_query_all("select x from t_commit") == [{"x": 1}]


async def test_run_operation_catches_errors_thrown_into_it(app):
    def operation():
        try:
            yield connector_module.call_one("select 1/0")
        except exceptions.ConnectorException as exc:
            return exc.sqlstate

    assert (
        await connector_module.run_operation_async(app.connector, operation())
        == "22012"
    )


async def test_listen_notify_direct(app, db_dsn):
    received, ready = [], asyncio.Event()

    async def on_notification(*, channel, payload):
        received.append((channel, payload))

    task = asyncio.ensure_future(
        app.connector.listen_notify(
            on_notification, ["some channel"], on_listening=ready.set
        )
    )
    try:
        await asyncio.wait_for(ready.wait(), 5)
        await app.connector.execute_query_async(
            "select pg_notify('some channel', 'hello')"
        )
        for _ in range(50):
            if received:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert received == [("some channel", "hello")]


async def test_sync_connector_cannot_listen(db_dsn):
    with pytest.raises(exceptions.SyncConnectorConfigurationError):
        await SyncPsycopgConnector(conninfo=db_dsn).listen_notify(None, ["x"])
