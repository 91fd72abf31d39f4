"""Connector conformance: the same behaviours checked on every connector
(psycopg async, psycopg sync, aiopg, psycopg2, Django), against a real
database. See conftest.py for how each test runs once per connector (and
per form of its query methods), and why Django runs in a process of its own.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import functools
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

from procrastinate import exceptions, jobs, manager
from procrastinate._db import wire

from conformance_kinds import (
    IN_DJANGO_PROCESS,
    Kind,
    Queries,
    close_connector,
    in_thread,
    open_connector,
)

UTC = datetime.timezone.utc
HERE = pathlib.Path(__file__).resolve().parent

connectors_where = pytest.mark.connectors_where


def job(task_name: str, **fields: Any) -> jobs.Job:
    values = {"queue": "conformance", "lock": None, "queueing_lock": None, **fields}
    return jobs.Job(task_name=task_name, **values)


async def eventually(condition, timeout: float = 10.0) -> None:
    """Wait until ``condition()`` is true (polling), or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# --- queries -----------------------------------------------------------------------------


async def test_execute_query_one_all(kind: Kind, form: str, queries: Queries):
    assert await queries.one("select 1 as one, 'x' as two") == {"one": 1, "two": "x"}
    assert await queries.one("select 1 as one where false") is None
    assert await queries.all(
        "select x from generate_series(1, %(n)s) as x order by x", n=3
    ) == [{"x": 1}, {"x": 2}, {"x": 3}]
    assert await queries.all("select 1 as one where false") == []
    assert await queries.execute("select 1") is None
    # A statement that returns no rows at all (no result description).
    assert await queries.one("set application_name = 'conformance'") is None
    assert await queries.all("set application_name = 'conformance'") == []
    # "%" is plain without arguments; with arguments it is written "%%".
    assert await queries.one("select '100%' as p") == {"p": "100%"}
    assert await queries.one("select %(n)s || '%%' as p", n="50") == {"p": "50%"}
    # Writes are committed: another session sees them.
    await queries.execute("create table conformance_t (x integer)")
    await queries.execute("insert into conformance_t values (%(x)s)", x=7)
    assert await queries.all("select x from conformance_t") == [{"x": 7}]


async def test_argument_types_round_trip(kind: Kind, form: str, queries: Queries):
    when = datetime.datetime(2031, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
    india = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    elsewhere = datetime.datetime(2031, 2, 3, 9, 35, 6, tzinfo=india)
    document = {"a": [1, 2.5, "é", None, True], "nested": {"k": "v"}, "empty": {}}
    row = await queries.one(
        "select %(document)s::jsonb as document, %(text)s::text as text,"
        " %(small)s::integer as small, %(big)s::bigint as big, %(nothing)s::text as nothing,"
        " %(when)s::timestamptz as when_, %(elsewhere)s::timestamptz as elsewhere,"
        " %(flag)s::boolean as flag, %(ratio)s::float8 as ratio,"
        " %(ints)s::integer[] as ints, %(texts)s::text[] as texts,"
        " %(nothing)s::jsonb as no_document,"
        " '{\"x\": [1]}'::json as json_column, 1.25::numeric as number,"
        " interval '90 seconds' as duration",
        document=document,
        text="it's 100% text: ünïcode ✓",
        small=-42,
        big=2**40,
        nothing=None,
        when=when,
        elsewhere=elsewhere,
        flag=True,
        ratio=0.1,
        ints=[1, 2, 3],
        texts=["a", "b c"],
    )
    assert row == {
        "document": document,
        "text": "it's 100% text: ünïcode ✓",
        "small": -42,
        "big": 2**40,
        "nothing": None,
        "when_": when,
        "elsewhere": elsewhere,
        "flag": True,
        "ratio": 0.1,
        "ints": [1, 2, 3],
        "texts": ["a", "b c"],
        "no_document": None,
        "json_column": {"x": [1]},
        "number": decimal.Decimal("1.25"),
        "duration": datetime.timedelta(seconds=90),
    }
    assert row["when_"].utcoffset() is not None  # timezone-aware
    assert type(row["big"]) is int and type(row["flag"]) is bool


async def test_custom_json_dumps_and_loads(kind: Kind, form: str, make_connector, db):
    """json_dumps serialises dicts sent (query arguments, job args), and
    json_loads decodes json/jsonb received (rows, fetched job args)."""
    connector = make_connector(
        json_dumps=functools.partial(json.dumps, default=float),
        json_loads=functools.partial(json.loads, parse_float=decimal.Decimal),
    )
    await open_connector(kind, connector)
    queries = Queries(form, connector)
    row = await queries.one(
        "select %(d)s::jsonb as d", d={"price": decimal.Decimal("1.1")}
    )
    assert row == {"d": {"price": decimal.Decimal("1.1")}}
    assert type(row["d"]["price"]) is decimal.Decimal

    job_manager = manager.JobManager(connector)
    price = {"price": decimal.Decimal("2.5")}
    if form == "async":
        deferred = await job_manager.defer_job_async(job("priced", task_kwargs=price))
        (listed,) = await job_manager.list_jobs_async()
        fetched = await job_manager.fetch_jobs_async(None, None, 1)
        assert [(j.id, j.task_kwargs, j.decode_error) for j in fetched] == [
            (deferred.id, price, None)
        ]
        assert type(fetched[0].task_kwargs["price"]) is decimal.Decimal
    else:
        deferred = await in_thread(
            job_manager.defer_job, job("priced", task_kwargs=price)
        )
        (listed,) = await in_thread(job_manager.list_jobs)
    assert (listed.id, listed.task_kwargs) == (deferred.id, price)
    assert type(listed.task_kwargs["price"]) is decimal.Decimal
    assert db.execute("select args::text from procrastinate_jobs").fetchone() == {
        "args": '{"price": 2.5}'
    }


@connectors_where(lambda kind: kind.on_the_loop)
async def test_sync_methods_called_inside_the_loop_return_awaitables(
    kind: Kind, connector
):
    # Documented on BaseAsyncConnector (the quickstart's
    # ``await connector.execute_query_one(...)``).
    assert await connector.execute_query_one("select 2 as two") == {"two": 2}
    assert await connector.execute_query_all("select 3 as x") == [{"x": 3}]


@connectors_where(lambda kind: not kind.async_forms)
async def test_sync_connectors_refuse_the_async_forms(kind: Kind, connector):
    refused = exceptions.SyncConnectorConfigurationError
    with pytest.raises(refused):
        await connector.execute_query_async("select 1")
    with pytest.raises(refused):
        await connector.execute_query_one_async("select 1")
    with pytest.raises(refused):
        await connector.execute_query_all_async("select 1")
    with pytest.raises(refused):
        async with connector.transaction_async():
            pass
    with pytest.raises(refused):
        await manager.JobManager(connector).list_jobs_async()
    # The sync side still works.
    assert await in_thread(connector.execute_query_one, "select 1 as x") == {"x": 1}


# --- the job manager over the connector ---------------------------------------------------


async def test_defer_then_fetch_through_the_job_manager(kind: Kind, connector, db):
    job_manager = manager.JobManager(connector)
    args = {"n": 1, "text": "é", "list": [1, None], "nested": {"ok": True}}
    first = await in_thread(
        job_manager.defer_job,
        job("first", task_kwargs=args, queueing_lock="ql", priority=5),
        retry_policy={"max_attempts": 3},
    )
    assert (first.id, first.status) == (1, "todo")
    batch = [
        job("second", lock="l"),
        job("third", scheduled_at=datetime.datetime(2000, 1, 1, tzinfo=UTC)),
    ]
    if kind.async_forms:
        deferred = await job_manager.batch_defer_jobs_async(batch)
    else:
        deferred = await in_thread(job_manager.batch_defer_jobs, batch)
    assert [(j.id, j.task_name) for j in deferred] == [(2, "second"), (3, "third")]
    assert db.execute(
        "select id, task_name, args, priority, lock, queueing_lock, max_attempts,"
        " status::text as status from procrastinate_jobs order by id"
    ).fetchall() == [
        {"id": 1, "task_name": "first", "args": args, "priority": 5, "lock": None,
         "queueing_lock": "ql", "max_attempts": 3, "status": "todo"},
        {"id": 2, "task_name": "second", "args": {}, "priority": 0, "lock": "l",
         "queueing_lock": None, "max_attempts": None, "status": "todo"},
        {"id": 3, "task_name": "third", "args": {}, "priority": 0, "lock": None,
         "queueing_lock": None, "max_attempts": None, "status": "todo"},
    ]  # fmt: skip
    listed = await in_thread(job_manager.list_jobs, queue="conformance")
    assert [(j.id, j.task_kwargs, j.status) for j in listed] == [
        (1, args, "todo"),
        (2, {}, "todo"),
        (3, {}, "todo"),
    ]
    if not kind.async_forms:
        # A synchronous connector cannot run a worker (fetching, reporting
        # and LISTEN are asynchronous): what it reads is what list_jobs shows.
        assert await in_thread(job_manager.cancel_job_by_id, 2)
        assert await in_thread(job_manager.get_job_status, 2) is jobs.Status.CANCELLED
        return

    worker_id = await job_manager.register_worker_async("conformance", None, 2)
    fetched = await job_manager.fetch_jobs_async(worker_id, ["conformance"], 2)
    # Priority first, then age; the job scheduled in the past is runnable.
    assert [(j.id, j.task_kwargs, j.status, j.worker_id) for j in fetched] == [
        (1, args, "doing", worker_id),
        (2, {}, "doing", worker_id),
    ]
    results = await job_manager.finish_jobs_async(
        worker_id,
        [wire.build_outcome(fetched[0], jobs.Status.SUCCEEDED)],
    )
    assert [(r["job_id"], r["accepted"], r["status"]) for r in results] == [
        (1, True, "succeeded")
    ]
    assert await in_thread(job_manager.get_job_status, 1) is jobs.Status.SUCCEEDED
    # Unregistering gives back the job it still held.
    assert await job_manager.unregister_worker_async(worker_id) == 1
    assert await job_manager.get_job_status_async(2) is jobs.Status.TODO


async def test_refusals_of_the_sql_core_arrive_as_their_exceptions(
    kind: Kind, connector, db
):
    job_manager = manager.JobManager(connector)
    await in_thread(job_manager.defer_job, job("held", queueing_lock="taken"))
    forms = [(in_thread, job_manager.defer_job, job_manager.get_job_status)]
    if kind.async_forms:
        forms.append(
            (_await, job_manager.defer_job_async, job_manager.get_job_status_async)
        )
    for call, defer, status in forms:
        with pytest.raises(exceptions.AlreadyEnqueued):
            await call(defer, job("clash", queueing_lock="taken"))
        with pytest.raises(exceptions.InvalidJobDefinition) as invalid:
            await call(defer, job(""))
        assert invalid.value.sqlstate == "PT001"
        with pytest.raises(exceptions.UnserializableArguments):
            await call(defer, job("bad", task_kwargs={"x": object()}))
        with pytest.raises(exceptions.JobNotFound) as missing:
            await call(status, 999)
        assert missing.value.sqlstate == "PT003"
    assert db.execute("select task_name from procrastinate_jobs").fetchall() == [
        {"task_name": "held"}
    ]


async def _await(function, *args, **kwargs):
    return await function(*args, **kwargs)


# --- errors ---------------------------------------------------------------------------------


async def test_an_sql_error_is_a_connector_exception_with_its_sqlstate(
    kind: Kind, form: str, queries: Queries
):
    for query, arguments, sqlstate in (
        ("select 1 / 0", {}, "22012"),
        ("select * from conformance_missing", {}, "42P01"),
        ("select %(x)s::integer as x", {"x": "not a number"}, "22P02"),
        ("selec 1", {}, "42601"),
    ):
        with pytest.raises(exceptions.ConnectorException) as error:
            await queries.one(query, **arguments)
        assert error.value.sqlstate == sqlstate, query
        assert error.value.__cause__ is not None  # the driver's error
    # A SQLSTATE of the SQL core becomes its own exception, on any query.
    with pytest.raises(exceptions.JobNotFound) as error:
        await queries.execute(
            "do $$ begin raise exception 'no such job' using errcode = 'PT003'; end $$"
        )
    assert (error.value.sqlstate, str(error.value)) == ("PT003", "no such job")
    # The connector is still usable (no connection left in a failed transaction).
    assert await queries.one("select 1 as x") == {"x": 1}


# --- transactions ---------------------------------------------------------------------------


def _table_exists(db, name: str) -> bool:
    return db.execute("select to_regclass(%s) as t", [name]).fetchone()["t"] is not None


@connectors_where(lambda kind: kind.sync_transaction)
async def test_sync_transaction(kind: Kind, connector, db):
    def commit() -> None:
        with connector.transaction() as tx:
            tx.execute_query("create table t_commit (x integer)")
            tx.execute_query("insert into t_commit values (%(x)s)", x=1)
            assert tx.execute_query_one("select count(*) as n from t_commit") == {
                "n": 1
            }
            assert tx.execute_query_all("select x from t_commit") == [{"x": 1}]
            assert not _table_exists(db, "t_commit")  # not committed yet

    def roll_back() -> None:
        with connector.transaction() as tx:
            tx.execute_query("create table t_rollback (x integer)")
            raise RuntimeError("undo")

    def fail() -> None:
        with connector.transaction() as tx:
            tx.execute_query("create table t_failed (x integer)")
            tx.execute_query("select 1 / 0")

    await in_thread(commit)
    assert db.execute("select x from t_commit").fetchall() == [{"x": 1}]
    with pytest.raises(RuntimeError, match="undo"):
        await in_thread(roll_back)
    assert not _table_exists(db, "t_rollback")
    with pytest.raises(exceptions.ConnectorException) as error:
        await in_thread(fail)
    assert error.value.sqlstate == "22012"
    assert not _table_exists(db, "t_failed")
    assert await in_thread(connector.execute_query_one, "select 1 as x") == {"x": 1}


@connectors_where(lambda kind: kind.async_transaction)
async def test_async_transaction(kind: Kind, connector, db):
    async with connector.transaction_async() as tx:
        await tx.execute_query_async("create table t_commit (x integer)")
        await tx.execute_query_async("insert into t_commit values (%(x)s)", x=1)
        assert await tx.execute_query_one_async(
            "select count(*) as n from t_commit"
        ) == {"n": 1}
        assert await tx.execute_query_all_async("select x from t_commit") == [{"x": 1}]
        assert not _table_exists(db, "t_commit")  # not committed yet
    assert db.execute("select x from t_commit").fetchall() == [{"x": 1}]

    with pytest.raises(RuntimeError, match="undo"):
        async with connector.transaction_async() as tx:
            await tx.execute_query_async("create table t_rollback (x integer)")
            raise RuntimeError("undo")
    assert not _table_exists(db, "t_rollback")

    with pytest.raises(exceptions.ConnectorException) as error:
        async with connector.transaction_async() as tx:
            await tx.execute_query_async("create table t_failed (x integer)")
            await tx.execute_query_async("select 1 / 0")
    assert error.value.sqlstate == "22012"
    assert not _table_exists(db, "t_failed")
    assert await connector.execute_query_one_async("select 1 as x") == {"x": 1}


# --- LISTEN / NOTIFY --------------------------------------------------------------------------


@connectors_where(lambda kind: kind.listen_refusal is None)
async def test_listen_notify(kind: Kind, connector, db):
    received: list[tuple[str, str]] = []
    listening = asyncio.Event()

    async def on_notification(*, channel: str, payload: str) -> None:
        received.append((channel, payload))

    listener = asyncio.ensure_future(
        connector.listen_notify(
            on_notification,
            ["conformance channel", "other"],
            on_listening=listening.set,
        )
    )
    try:
        await asyncio.wait_for(listening.wait(), 10)
        db.execute("select pg_notify('conformance channel', 'from another session')")
        await eventually(lambda: len(received) == 1)
        await connector.execute_query_async("select pg_notify('other', %(p)s)", p="é")
        await eventually(lambda: len(received) == 2)
        db.execute("select pg_notify('not listened to', 'x')")
        db.execute("select pg_notify('other', 'last')")
        await eventually(lambda: len(received) == 3)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    assert received == [
        ("conformance channel", "from another session"),
        ("other", "é"),
        ("other", "last"),
    ]
    assert listener.cancelled()

    # Through the JobManager: a defer notifies the workers of its queue.
    job_manager = manager.JobManager(connector)
    notifications: list[dict[str, Any]] = []
    listening.clear()
    listener = asyncio.ensure_future(
        job_manager.listen_for_jobs_async(
            notifications.append, on_listening=listening.set
        )
    )
    try:
        await asyncio.wait_for(listening.wait(), 10)
        await job_manager.defer_job_async(job("notified"))
        await eventually(lambda: len(notifications) == 1)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    assert notifications == [{"type": "job_available", "queues": ["conformance"]}]


@connectors_where(lambda kind: kind.listen_refusal is not None)
async def test_listen_notify_refused_as_documented(kind: Kind, connector):
    async def on_notification(*, channel: str, payload: str) -> None:
        raise AssertionError("no notification expected")

    assert kind.listen_refusal is not None
    with pytest.raises(kind.listen_refusal, match=kind.listen_refusal_says):
        await asyncio.wait_for(connector.listen_notify(on_notification, ["x"]), 10)
    with pytest.raises(kind.listen_refusal, match=kind.listen_refusal_says):
        await asyncio.wait_for(
            manager.JobManager(connector).listen_for_jobs_async(lambda payload: None),
            10,
        )


# --- opening and closing ----------------------------------------------------------------------


def backends(db) -> int:
    """Sessions on the test database, but the ``db`` fixture's own."""
    return db.execute(
        "select count(*) as n from pg_stat_activity"
        " where datname = current_database() and pid <> pg_backend_pid()"
    ).fetchone()["n"]


async def test_open_and_close_are_idempotent(kind: Kind, make_connector, db):
    connector = make_connector()
    await close_connector(kind, connector)  # never opened: nothing to do
    for _ in range(2):  # opened again after a close
        await open_connector(kind, connector)
        await open_connector(kind, connector)  # already open: nothing happens
        assert await in_thread(connector.execute_query_one, "select 1 as x") == {"x": 1}
        if kind.async_forms:
            assert await connector.execute_query_one_async("select 2 as x") == {"x": 2}
        if not kind.usable_when_closed:
            assert backends(db) == 1  # one pool of min size 1, not two
        await close_connector(kind, connector)
        await close_connector(kind, connector)  # already closed: nothing happens
        if kind.usable_when_closed:  # Django: its own connections
            assert await in_thread(connector.execute_query_one, "select 3 as x")
            continue
        await eventually(lambda: backends(db) == 0)
        with pytest.raises(exceptions.AppNotOpen):
            await in_thread(connector.execute_query_one, "select 3 as x")
        if kind.async_forms:
            with pytest.raises(exceptions.AppNotOpen):
                await connector.execute_query_one_async("select 4 as x")


# --- Django: this suite in a process of its own (see conftest.py) ------------------------------

if not IN_DJANGO_PROCESS:

    @pytest.mark.subprocess
    def test_the_django_connector_passes_the_suite_in_a_process_of_its_own():
        pytest.importorskip("django")
        env = {**os.environ, "PROCRASTINATE_CONFORMANCE_DJANGO": "1"}
        command = [sys.executable, "-m", "pytest", str(HERE), "-p", "no:cacheprovider"]
        result = subprocess.run(
            [*command, "-q", "-rfEs"],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        summary = output.strip().splitlines()[-1]
        assert " passed" in summary and "skipped" not in summary, output
