"""The read-only dashboard connected as a login holding procrastinate_reader
only (sql/optional/roles.sql): every page reads, and an action is refused by
the database itself, even from a dashboard that was given a token."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
import pytest_asyncio

import procrastinate
from procrastinate import dashboard

from dashboard_harness import CSRF_INPUT, TOKEN

PAGES = ["/", "/overview/queues", "/overview/throughput?range=day", "/jobs",
         "/jobs?args=%7B%22n%22%3A+1%7D&from=2020-01-01T00%3A00", "/failures", "/workers",
         "/locks", "/periodic", "/queues"]


@pytest.fixture
def reader_dsn(db: psycopg.Connection, db_dsn: str, apply_roles_sql) -> AsyncIterator[str]:
    apply_roles_sql()
    name = f"dash_{uuid.uuid4().hex[:8]}"
    db.execute(f"create role {name} login in role procrastinate_reader")
    yield f"{db_dsn} user={name}"
    db.execute(f"drop role {name}")


@pytest_asyncio.fixture
async def reader_app(reader_dsn: str) -> AsyncIterator[procrastinate.App]:
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=reader_dsn, min_size=1, max_size=2)
    )
    async with app.open_async():
        yield app


def client(asgi_app) -> httpx.AsyncClient:  # noqa: ANN001
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi_app), base_url="http://dash")


async def failed_job(app: procrastinate.App) -> int:
    @app.task(name="breaks", queue="reader")
    async def breaks(n: int) -> None:
        raise ValueError("broken")

    job_id = await breaks.defer_async(n=1)
    await app.run_worker_async(queues=["reader"], wait=False)
    return job_id


async def test_every_page_reads_as_a_reader(app: procrastinate.App, reader_app, db):
    job_id = await failed_job(app)
    async with client(dashboard.app(reader_app)) as http:
        for path in [*PAGES, f"/jobs/{job_id}"]:
            response = await http.get(path)
            assert response.status_code == 200, (path, response.text[:500])
        page = await http.get("/jobs?args=%7B%22n%22%3A+1%7D")
        assert f"/jobs/{job_id}" in page.text
        overview = await http.get("/")
        assert 'data-queue="reader"' in overview.text
        chart = (await http.get("/overview/throughput")).json()
        assert sum(chart["queues"]["reader"]["failed"]) == 1
        bad = await http.get("/overview/throughput?range=week")
        assert bad.status_code == 400
        assert bad.json() == {"error": "range must be one of hour, day"}


async def test_actions_are_refused_by_the_database(
    app: procrastinate.App, reader_app, reader_dsn: str, db
):
    job_id = await failed_job(app)
    # a dashboard given a token offers the actions: the database refuses them
    async with client(dashboard.app(reader_app, token=TOKEN)) as http:
        page = await http.get(f"/jobs/{job_id}", headers={"authorization": f"Bearer {TOKEN}"})
        match = CSRF_INPUT.search(page.text)
        assert match
        headers = {"authorization": f"Bearer {TOKEN}", "x-csrf-token": match.group(1)}
        for path, form in [(f"/jobs/{job_id}/retry", {}), ("/queues/pause", {"queue": "reader"}),
                           ("/failures/retry", {"task": "breaks", "error_type": "ValueError"})]:
            response = await http.post(path, data=form, headers=headers)
            assert response.status_code == 409, (path, response.status_code)
            assert "permission denied" in response.text, path
    status = db.execute("select status from procrastinate_jobs where id = %s", [job_id]).fetchone()
    assert status["status"] == "failed"
    assert db.execute("select count(*) as n from procrastinate_paused_queues").fetchone()["n"] == 0

    # nor through psql: no write, no action, no worker function
    with psycopg.connect(reader_dsn, autocommit=True) as conn:
        for statement in [
            f"select procrastinate_retry_job({job_id})",
            f"select procrastinate_cancel_job({job_id})",
            "select procrastinate_pause_queue('reader')",
            "select procrastinate_retry_failure_group_v1('breaks', 'ValueError')",
            "select procrastinate_defer_job('x')",
            "select * from procrastinate_fetch_jobs_v3(null, null, 1)",
            "update procrastinate_jobs set status = 'todo'",
            "select count(*) from procrastinate_jobs",
        ]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        # what it may read
        assert conn.execute("select count(*) from procrastinate_queue_stats").fetchone()[0] >= 1
        assert conn.execute(
            "select count(*) from procrastinate_dashboard_jobs_v2(p_queue => 'reader')"
        ).fetchone()[0] == 1
