"""procrastinate.contrib.sqlalchemy.SQLAlchemyPsycopg2Connector as
procrastinate's documentation shows it: an app on a SQLAlchemy engine, and a
job deferred on a connection of that engine inside the caller's transaction
(the external-connection how-to's SQLAlchemy example), against a real
database. Written from the docs' description."""

from __future__ import annotations

import psycopg.conninfo
import pytest
import sqlalchemy

from procrastinate import App, exceptions, jobs
from procrastinate.contrib.sqlalchemy import SQLAlchemyPsycopg2Connector


@pytest.fixture
def url(db_dsn):
    name = psycopg.conninfo.conninfo_to_dict(db_dsn)["dbname"]
    return f"postgresql+psycopg2:///{name}"  # the rest from libpq's environment


@pytest.fixture
def app(url, db):
    db.execute("create table orders (id int primary key)")
    app = App(connector=SQLAlchemyPsycopg2Connector(dsn=url))

    @app.task(name="process_order")
    def process_order(order_id: int) -> None: ...

    with app.open():
        yield app


def _state(db):
    orders = [row["id"] for row in db.execute("select id from orders order by id")]
    deferred = [
        (row["args"]["order_id"], row["status"])
        for row in db.execute("select args, status::text from procrastinate_jobs order by id")
    ]
    return orders, deferred


def test_defer_and_manage_through_the_engine(app, db):
    job_id = app.tasks["process_order"].defer(order_id=1)
    assert app.job_manager.get_job_status(job_id) == jobs.Status.TODO
    assert [job.id for job in app.job_manager.list_jobs()] == [job_id]
    assert app.job_manager.cancel_job_by_id(job_id)
    assert _state(db) == ([], [(1, "cancelled")])
    with pytest.raises(exceptions.AlreadyEnqueued):
        deferrer = app.configure_task("process_order", queueing_lock="one")
        deferrer.defer(order_id=2)
        deferrer.defer(order_id=3)


def test_the_how_tos_example_commits_the_row_and_the_job_together(app, db):
    connector = app.connector
    with connector.engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO orders (id) VALUES (%s)", (42,))
        app.tasks["process_order"].configure(connection=conn).defer(order_id=42)
        assert _state(db) == ([], [])
        conn.commit()
    assert _state(db) == ([42], [(42, "todo")])

    with connector.engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO orders (id) VALUES (%s)", (43,))
        app.tasks["process_order"].configure(connection=conn).defer(order_id=43)
        conn.rollback()
    assert _state(db) == ([42], [(42, "todo")])


def test_a_defer_alone_on_a_connection_is_committed_by_its_commit(app, db):
    with app.connector.engine.connect() as conn:
        app.tasks["process_order"].configure(connection=conn).defer(order_id=7)
        conn.commit()
    assert _state(db) == ([], [(7, "todo")])


def test_an_engine_of_the_application(url, db):
    engine = sqlalchemy.create_engine(url)
    app = App(connector=SQLAlchemyPsycopg2Connector())
    with app.open(engine):
        app.configure_task("t").defer()
    assert not engine.pool.checkedout()  # left to its owner, not disposed
    engine.dispose()
    assert db.execute("select count(*) as n from procrastinate_jobs").fetchone() == {"n": 1}


def test_another_driver_is_refused(db_dsn):
    with pytest.raises(exceptions.ConnectorException, match="psycopg2 driver"):
        SQLAlchemyPsycopg2Connector(dsn="postgresql+psycopg://").open()
