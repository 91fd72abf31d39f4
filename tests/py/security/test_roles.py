"""Least privilege through the Python API: sql/optional/roles.sql applied,
login roles granted procrastinate_producer / procrastinate_worker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import procrastinate
from procrastinate import exceptions, jobs
from procrastinate._db import files


@pytest.fixture
def login_roles(db, db_dsn, apply_roles_sql) -> Iterator[dict[str, str]]:
    """{"producer": dsn, "worker": dsn}: login roles of the two groups."""
    apply_roles_sql()
    suffix = uuid.uuid4().hex[:8]
    names = {"producer": f"web_{suffix}", "worker": f"runner_{suffix}"}
    for kind, name in names.items():
        db.execute(f"create role {name} login in role procrastinate_{kind}")
    yield {kind: f"{db_dsn} user={name}" for kind, name in names.items()}
    for name in names.values():
        db.execute(f"drop role {name}")


def _app(dsn: str) -> procrastinate.App:
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=dsn, min_size=1, max_size=2)
    )

    @app.task(name="greet")
    async def greet(name: str) -> str:
        return f"hello {name}"

    return app


def _denied(info: pytest.ExceptionInfo) -> None:
    assert info.value.sqlstate == "42501", info.value  # insufficient_privilege


async def test_producer_defers_and_reads_a_status_and_nothing_more(login_roles, db):
    other = db.execute(
        "select id from procrastinate_defer_jobs_v2('[{\"task_name\": \"greet\", "
        "\"args\": {\"name\": \"secret\"}}]'::jsonb)"
    ).fetchone()["id"]
    async with _app(login_roles["producer"]).open_async() as app:
        job_id = await app.tasks["greet"].defer_async(name="world")
        assert await app.job_manager.get_job_status_async(job_id) == jobs.Status.TODO
        # Another role's job reads as unknown (docs/security.md).
        with pytest.raises(exceptions.JobNotFound):
            await app.job_manager.get_job_status_async(other)
        # Cannot cancel, read jobs (other people's args), retry or change them.
        with pytest.raises(exceptions.ConnectorException) as info:
            await app.job_manager.cancel_job_by_id_async(other)
        _denied(info)
        with pytest.raises(exceptions.ConnectorException) as info:
            await app.job_manager.list_jobs_async()
        _denied(info)
        with pytest.raises(exceptions.ConnectorException) as info:
            await app.job_manager.retry_job_by_id_async(other, retry_at=None)
        _denied(info)
        with pytest.raises(exceptions.ConnectorException) as info:
            await app.connector.execute_query_async(
                "update procrastinate_jobs set status = 'succeeded'"
            )
        _denied(info)
        with pytest.raises(exceptions.ConnectorException) as info:
            await app.connector.execute_query_all_async("select args from procrastinate_jobs")
        _denied(info)
    statuses = db.execute("select status::text as s from procrastinate_jobs").fetchall()
    assert statuses == [{"s": "todo"}, {"s": "todo"}]


async def test_worker_role_runs_the_worker(login_roles, db):
    async with _app(login_roles["worker"]).open_async() as app:
        job_id = await app.tasks["greet"].defer_async(name="world")
        await app.run_worker_async(wait=False, install_signal_handlers=False)
        assert await app.job_manager.get_job_status_async(job_id) == jobs.Status.SUCCEEDED
    assert db.execute("select count(*) as n from procrastinate_workers").fetchone()["n"] == 0


@pytest.mark.parametrize(
    ("migration", "signature"),
    [
        ("0024_why_waiting", "procrastinate_why_waiting(text)"),
        ("0026_operator_rescue", "procrastinate_rescue_stalled_jobs()"),
    ],
)
def test_a_function_added_by_a_migration_is_the_operators_only(
    login_roles, db, migration, signature
):
    """roles.sql ran before the migration that adds the function: the
    migration itself keeps it from PUBLIC (a producer, a worker) and grants it
    to the operator."""
    path = files.migrations_dir() / "post" / f"{migration}.sql"
    db.execute(f"drop function {signature}")
    db.execute(path.read_text())
    for role, allowed in [
        ("procrastinate_producer", False),
        ("procrastinate_worker", False),
        ("procrastinate_operator", True),
    ]:
        row = db.execute(
            "select has_function_privilege(%s, %s, 'execute') as ok", [role, signature]
        ).fetchone()
        assert row["ok"] is allowed, role
