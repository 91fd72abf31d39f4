"""Testing helpers for projects using procrastinate (docs/testing.md).

A pytest plugin (loaded automatically once procrastinate is installed; else
``-p procrastinate.testing``) whose fixtures give each test a throwaway
PostgreSQL database cloned from a template holding the schema
(``procrastinate_dsn``, ``procrastinate_template``, ``procrastinate_db``) and
an App bound to it (override ``procrastinate_base_app`` to return yours; use
``procrastinate_app``). ``run_deferred_jobs(app)`` (and ``await
run_deferred_jobs_async(app)``) runs a real worker until no job is left to run
now, and returns one JobOutcome per job it ran. ``InMemoryConnector`` is
procrastinate 3.x's connector for tests, on a throwaway real database.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import os
import uuid
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import psycopg.conninfo
import psycopg.sql

from procrastinate import app as app_module
from procrastinate import connector as connector_module
from procrastinate import (
    jobs,
    periodic,
    psycopg_connector,
    sync_psycopg_connector,
    testing_server,
)
from procrastinate._db import files, queries, schema_queries


@dataclasses.dataclass
class JobOutcome:
    """What became of one job run by run_deferred_jobs."""

    id: int
    task_name: str
    #: The job's status after the run (``todo`` again: a retry scheduled later).
    status: jobs.Status
    attempts: int
    args: dict[str, Any]
    #: What the task returned, in its last run.
    result: Any = None
    #: The exception the task raised in its last run (None if it succeeded).
    exception: BaseException | None = None
    #: The error recorded in the database (``procrastinate_jobs.last_error``).
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is jobs.Status.SUCCEEDED


# --- running the deferred jobs -----------------------------------------------------------


def _worker_connector(connector: connector_module.BaseConnector) -> Any:
    """A new async connector on the database of ``connector``, or None when
    ``connector`` itself must be used (opened on the current loop)."""
    # A pool of its own, big enough for the worker's side loops and for
    # tasks that defer more jobs.
    twin = psycopg_connector.async_twin(connector, min_size=1, max_size=8)
    if twin is not None:
        return twin
    get_worker_connector = getattr(connector, "get_worker_connector", None)
    if get_worker_connector is not None:  # the Django connector
        return get_worker_connector()
    return None


@contextlib.asynccontextmanager
async def _worker_app(app: app_module.App) -> AsyncIterator[app_module.App]:
    """``app``, opened on the running loop: as it is when already open on
    this loop, else with a connector of its own for the run when it can."""
    current = app.connector
    if getattr(current, "_loop", None) is asyncio.get_running_loop():
        yield app
        return
    with app.replace_connector(_worker_connector(current) or current):
        async with app.open_async():
            yield app


async def run_deferred_jobs_async(app: app_module.App, **worker_options: Any) -> list[JobOutcome]:
    """Run the jobs that can run now (and those they defer) with a worker of
    ``app``, until none is left; return one JobOutcome per job run, by id.

    ``worker_options`` go to the worker (``queues=[...]``, ``concurrency``,
    ...); it runs with ``wait=False``, without signal handlers, LISTEN or the
    periodic deferrer. Jobs scheduled later are left alone.
    """
    captured: dict[int, tuple[Any, BaseException | None]] = {}
    run_ids: list[int] = []  # one per run

    async def capture(call_next: Any, context: Any, worker: Any) -> Any:
        run_ids.append(context.job.id)
        try:
            result = await call_next()
        except BaseException as exc:
            captured[context.job.id] = (None, exc)
            raise
        captured[context.job.id] = (result, None)
        return result

    options = {**app.worker_defaults, **worker_options}
    options.update(
        wait=False,
        install_signal_handlers=False,
        listen_notify=False,
        worker_middleware=[capture, *(options.get("worker_middleware") or [])],
    )
    registry = app.periodic_registry
    async with _worker_app(app) as running:
        rows = await running.connector.execute_query_all_async(queries.WAITING_JOBS)
        waiting = [row["id"] for row in rows]
        running.periodic_registry = periodic.PeriodicRegistry()
        try:
            # Until a round runs nothing: a retry due now whose failure was
            # reported just after the worker's last look waits for the next.
            runs = -1
            while runs != len(run_ids):
                runs = len(run_ids)
                await running.run_worker_async(**options)
        finally:
            running.periodic_registry = registry
        ids = sorted(set(waiting) | set(captured))
        rows = await running.connector.execute_query_all_async(queries.JOBS_AFTER_RUN, ids=ids)

    outcomes = []
    for row in rows:
        if row["id"] not in captured and row["status"] == "todo" and row["attempts"] == 0:
            continue  # not run: scheduled later, or in another queue
        result, exception = captured.get(row["id"], (None, None))
        status, error = jobs.Status(row["status"]), row["last_error"]
        fields = {key: row[key] for key in ("id", "task_name", "attempts", "args")}
        outcomes.append(
            JobOutcome(**fields, status=status, result=result, exception=exception, error=error)
        )
    return outcomes


def run_deferred_jobs(app: app_module.App, **worker_options: Any) -> list[JobOutcome]:
    """Synchronous run_deferred_jobs_async (on a new event loop; in a thread
    of its own when called from a running loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_deferred_jobs_async(app, **worker_options))
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        return executor.submit(asyncio.run, run_deferred_jobs_async(app, **worker_options)).result()


# --- throwaway databases -----------------------------------------------------------------


def admin_conninfo(dsn: str = "") -> str:
    """``dsn`` (libpq's environment fills what it lacks), on the ``postgres``
    database when neither names one."""
    if "dbname" in psycopg.conninfo.conninfo_to_dict(dsn) or os.environ.get("PGDATABASE"):
        return dsn
    return psycopg.conninfo.make_conninfo(dsn, dbname="postgres")


def _execute(dsn: str, statement: str, /, **names: str) -> None:
    """Run ``statement`` (a schema_queries template) with ``names`` as identifiers."""
    identifiers = {key: psycopg.sql.Identifier(name) for key, name in names.items()}
    with psycopg.connect(admin_conninfo(dsn), autocommit=True) as connection:
        connection.execute(psycopg.sql.SQL(statement).format(**identifiers))


def ensure_template(dsn: str = "") -> str:
    """The template database with the schema, built unless it exists: by one
    session at a time (pytest-xdist workers wait for the first, then find it)."""
    digest = hashlib.sha256(files.read_schema().encode()).hexdigest()[:12]
    name, lock = f"procrastinate_testing_{digest}", {"key": int(digest, 16)}
    with psycopg.connect(admin_conninfo(dsn), autocommit=True) as connection:
        connection.execute(schema_queries.MIGRATION_LOCK, lock)  # until disconnected
        if connection.execute(schema_queries.DATABASE_EXISTS, {"name": name}).fetchone():
            return name
        # Built under another name, then renamed: an interrupted build leaves
        # no half-built template behind.
        building = f"{name}_{uuid.uuid4().hex[:8]}"
        create_database(dsn, building, template="template0")
        try:
            with psycopg.connect(dsn, dbname=building, autocommit=True) as target:
                target.execute(files.read_schema())  # type: ignore[arg-type]
            _execute(dsn, schema_queries.RENAME_DATABASE, name=building, new_name=name)
        except BaseException:
            drop_database(dsn, building)
            raise
    return name


def create_database(dsn: str, name: str, template: str) -> None:
    _execute(dsn, schema_queries.CREATE_DATABASE, name=name, template=template)


def drop_database(dsn: str, name: str) -> None:
    _execute(dsn, schema_queries.DROP_DATABASE, name=name)


@contextlib.contextmanager
def throwaway_database(dsn: str = "", template: str | None = None) -> Iterator[str]:
    """A new database cloned from the template; yields its conninfo, drops it."""
    name = f"procrastinate_test_{uuid.uuid4().hex[:12]}"
    create_database(dsn, name, template or ensure_template(dsn))
    try:
        yield psycopg.conninfo.make_conninfo(dsn, dbname=name)
    finally:
        drop_database(dsn, name)


# --- InMemoryConnector ---------------------------------------------------------------------


class _OpensOnUse(sync_psycopg_connector.SyncPsycopgConnector):
    """InMemoryConnector's synchronous side: tests defer without opening the
    app, so its pool opens on first use."""

    @property
    def pool(self) -> Any:
        if self._pool is None:
            self.open()
        return self._pool


def _dispose(
    server: str, name: str, sides: list[sync_psycopg_connector.SyncPsycopgConnector]
) -> None:
    for side in sides:
        side.close()
    drop_database(server, name)


class InMemoryConnector(psycopg_connector.PsycopgConnector):
    """procrastinate 3.x's connector for tests, with its attributes (``jobs``,
    ``events``, ``workers``, ``finished_jobs``, ``current_locks``,
    ``reset()``), on a real PostgreSQL: each instance has a throwaway
    database holding the schema, so that tasks behave in tests as in
    production (the queue is the SQL core; there is no second, in-memory
    implementation of it). The server is libpq's environment's when it
    names one (PGHOST...), else a private server started for the process
    (procrastinate.testing_server; NoPostgreSQL names what to install when
    PostgreSQL's server programs are missing). The database is dropped when
    the connector is garbage-collected or the process exits.

    It works unopened, as upstream's: ``task.defer()`` and
    ``app.run_worker(wait=False)`` need no ``app.open()``.
    """

    def __init__(
        self,
        *,
        json_dumps: Any = None,
        json_loads: Any = None,
    ):
        server = testing_server.server_conninfo()
        name = f"procrastinate_memory_{uuid.uuid4().hex[:12]}"
        create_database(server, name, ensure_template(server))
        #: conninfo of the connector's database
        self.dsn = psycopg.conninfo.make_conninfo(server, dbname=name)
        # the synchronous sides made, closed before their database is dropped
        self._sync_sides: list[sync_psycopg_connector.SyncPsycopgConnector] = []
        weakref.finalize(self, _dispose, server, name, self._sync_sides)
        super().__init__(
            conninfo=self.dsn, json_dumps=json_dumps, json_loads=json_loads,
            min_size=1, max_size=8,
        )

    def _make_sync_connector(self) -> sync_psycopg_connector.SyncPsycopgConnector:
        side = _OpensOnUse(
            json_dumps=self.json_dumps, json_loads=self.json_loads, **self._pool_args
        )
        self._sync_sides.append(side)
        return side

    async def _execute(self, query: str, arguments: dict[str, Any], fetch: str) -> Any:
        if self._pool is None:  # used unopened from async code
            await self.open_async()
        return await super()._execute(query, arguments, fetch)

    def _rows(self, query: str) -> list[dict[str, Any]]:
        # a connection of its own: readable from any thread or loop, opened or not
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            return self.execute_query_all_with_connection(connection, query)

    @property
    def jobs(self) -> dict[int, dict[str, Any]]:
        """Every job row by id, as the database holds it now."""
        return {row["id"]: row for row in self._rows(queries.TESTING_JOBS)}

    @property
    def events(self) -> dict[int, list[dict[str, Any]]]:
        """The events of each job, by job id, oldest first."""
        events: dict[int, list[dict[str, Any]]] = {}
        for row in self._rows(queries.TESTING_EVENTS):
            events.setdefault(row["job_id"], []).append(row)
        return events

    @property
    def workers(self) -> dict[int, Any]:
        """The registered workers: id -> last heartbeat."""
        return {row["id"]: row["last_heartbeat"] for row in self._rows(queries.TESTING_WORKERS)}

    @property
    def finished_jobs(self) -> list[dict[str, Any]]:
        return [job for job in self.jobs.values() if job["status"] in ("failed", "succeeded")]

    @property
    def current_locks(self) -> set[str]:
        """Locks held by a running job."""
        return {
            job["lock"]
            for job in self.jobs.values()
            if job["status"] == "doing" and job["lock"] is not None
        }

    def reset(self) -> None:
        """Empty the database (jobs, events, workers, periodic defers, paused
        queues; ids start again from 1)."""
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            self.execute_query_with_connection(connection, queries.TESTING_RESET)


# --- the pytest plugin ----------------------------------------------------------------------

try:
    import pytest
except ImportError:  # pragma: no cover - the helpers above work without pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    def pytest_addoption(parser: Any) -> None:
        group = parser.getgroup("procrastinate")
        group.addoption(
            "--procrastinate-dsn",
            default=None,
            help="libpq conninfo of the PostgreSQL server where the procrastinate "
            "fixtures create their databases (default: libpq's environment)",
        )
        parser.addini("procrastinate_dsn", default="", help="Default of --procrastinate-dsn")

    @pytest.fixture(scope="session")
    def procrastinate_dsn(pytestconfig: Any) -> str:
        """Conninfo of the server (not of a database) the fixtures use."""
        option = pytestconfig.getoption("procrastinate_dsn")
        return option if option is not None else pytestconfig.getini("procrastinate_dsn")

    @pytest.fixture(scope="session")
    def procrastinate_template(procrastinate_dsn: str) -> str:
        """Name of the template database holding the schema."""
        return ensure_template(procrastinate_dsn)

    @pytest.fixture
    def procrastinate_db(procrastinate_dsn: str, procrastinate_template: str) -> Iterator[str]:
        """Conninfo of a new database holding the schema, dropped after the test."""
        with throwaway_database(procrastinate_dsn, procrastinate_template) as conninfo:
            yield conninfo

    @pytest.fixture
    def procrastinate_base_app() -> app_module.App:
        """The App under test: override this fixture to return yours."""
        return app_module.App(connector=psycopg_connector.PsycopgConnector())

    @pytest.fixture
    def procrastinate_app(
        procrastinate_base_app: app_module.App, procrastinate_db: str
    ) -> Iterator[app_module.App]:
        """procrastinate_base_app bound to procrastinate_db for the test."""
        base = procrastinate_base_app.connector
        connector = psycopg_connector.PsycopgConnector(
            conninfo=procrastinate_db,
            json_dumps=base.json_dumps,
            json_loads=base.json_loads,
            min_size=1,
            max_size=4,
        )
        with procrastinate_base_app.replace_connector(connector) as app:
            app.open()
            try:
                yield app
            finally:
                app.close()
