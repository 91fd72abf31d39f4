"""The optional connectors (aiopg, psycopg2) against a real database, and
their import without the optional drivers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from procrastinate import App, exceptions

PYTHON_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "python")


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("module", "connector"),
    [
        ("aiopg", "AiopgConnector"),
        ("psycopg2", "Psycopg2Connector"),
        ("SQLAlchemy", "SQLAlchemyPsycopg2Connector"),
    ],
)
def test_contrib_imports_without_its_driver(module, connector):
    code = f"""
import sys
for name in (
    "aiopg", "psycopg2", "psycopg2.extras", "psycopg2.pool", "psycopg2.sql", "sqlalchemy"
):
    sys.modules[name] = None
from procrastinate.contrib.aiopg import AiopgConnector
from procrastinate.contrib.psycopg2 import Psycopg2Connector
from procrastinate.contrib.sqlalchemy import SQLAlchemyPsycopg2Connector
import procrastinate.contrib.django
try:
    {connector}()
except ImportError as exc:
    print("ImportError:", exc)
"""
    env = {**os.environ, "PYTHONPATH": str(PYTHON_DIR)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    assert f"needs {module}" in result.stdout


def test_psycopg2_connector(db_dsn):
    pytest.importorskip("psycopg2")
    from procrastinate.contrib.psycopg2 import Psycopg2Connector

    app = App(connector=Psycopg2Connector(dsn=db_dsn))

    @app.task(name="t", retry=2, queueing_lock="one")
    def t(x):
        pass

    with app.open():
        job_id = t.defer(x=1)
        assert job_id == 1 and job_id.id == 1
        with pytest.raises(exceptions.AlreadyEnqueued):
            t.defer(x=2)
        with pytest.raises(exceptions.UnserializableArguments):
            t.configure(queueing_lock="two").defer(x=object())
        (job,) = app.job_manager.list_jobs()
        assert (job.task_kwargs, job.status) == ({"x": 1}, "todo")
        assert app.job_manager.list_queues()[0]["todo"] == 1
        assert app.connector.execute_query_one("select '50%' as p") == {"p": "50%"}
        assert (
            app.connector.execute_query_one(
                "select 1 from procrastinate_jobs where false"
            )
            is None
        )
        assert app.job_manager.cancel_job_by_id(job_id)
        with pytest.raises(exceptions.JobNotFound):
            app.job_manager.get_job_status(42)
        assert app.connector.check() is False
        assert app.check_connection()
    with pytest.raises(exceptions.SyncConnectorConfigurationError):
        asyncio.run(app.job_manager.list_jobs_async())


def test_psycopg2_connector_installs_schema(empty_db_dsn):
    pytest.importorskip("psycopg2")
    from procrastinate.contrib.psycopg2 import Psycopg2Connector

    app = App(connector=Psycopg2Connector(conninfo=empty_db_dsn))
    with app.open():
        assert app.connector.check() is True
        assert app.configure_task("t").defer() == 1


async def test_aiopg_connector(db_dsn):
    pytest.importorskip("aiopg")
    from procrastinate.contrib.aiopg import AiopgConnector

    app = App(connector=AiopgConnector(dsn=db_dsn, maxsize=3))

    @app.task(name="t")
    def t(x):
        pass

    async with app.open_async():
        assert await app.connector.check() is False
        received, ready = [], asyncio.Event()
        listener = asyncio.ensure_future(
            app.job_manager.listen_for_jobs_async(
                received.append, on_listening=ready.set
            )
        )
        try:
            await asyncio.wait_for(ready.wait(), 5)
            job_id = await t.defer_async(x=1)
            ids = await t.batch_defer_async({"x": 2}, {"x": 3})
            assert [job_id, *ids] == [1, 2, 3]
            assert await asyncio.to_thread(t.defer, x=4) == 4
            worker_id = await app.job_manager.register_worker_async("w", None, 1)
            fetched = await app.job_manager.fetch_jobs_async(worker_id, None, 2)
            assert [job.task_kwargs for job in fetched] == [{"x": 1}, {"x": 2}]
            results = await app.job_manager.finish_jobs_async(
                worker_id, [{"id": fetched[0].id, "attempt": 0, "status": "succeeded"}]
            )
            assert results[0]["status"] == "succeeded"
            assert await app.connector.execute_query_one("select 5 as x") == {"x": 5}
            for _ in range(50):
                if len(received) >= 2:
                    break
                await asyncio.sleep(0.1)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        assert received[:2] == [{"type": "job_available", "queues": ["default"]}] * 2
        with pytest.raises(exceptions.JobNotFound):
            await app.job_manager.get_job_status_async(99)
        with pytest.raises(RuntimeError):
            async with app.connector.transaction_async() as tx:
                await tx.execute_query_async("create table rolled_back (x int)")
                raise RuntimeError
        assert await app.connector.execute_query_one(
            "select to_regclass('rolled_back') as t"
        ) == {"t": None}


def test_aiopg_connector_sync_fallback(db_dsn):
    pytest.importorskip("aiopg")
    from procrastinate.contrib.aiopg import AiopgConnector

    app = App(
        connector=AiopgConnector(dsn=db_dsn, minsize=1, maxsize=2, enable_json=True)
    )
    with app.open():
        assert app.configure_task("t").defer() == 1
        assert [job.id for job in app.job_manager.list_jobs()] == [1]
