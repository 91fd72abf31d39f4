"""Stored results and waiting for jobs (docs/results.md), with a worker
running in the test's event loop on a real database."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import psycopg
import pytest

import procrastinate
from acceptance.worker_helpers import Running
from procrastinate import exceptions, waiting

from polling import poll


def register_tasks(app: procrastinate.App) -> dict[str, Any]:
    @app.task(name="add", store_result=True)
    async def add(a: int, b: int) -> dict[str, Any]:
        return {"sum": a + b, "inputs": [a, b, None]}

    @app.task(name="boom", store_result=True)
    def boom(message: str) -> None:
        raise ValueError(message)

    @app.task(name="plain")
    def plain() -> int:
        return 3

    @app.task(name="big", store_result=True)
    def big(size: int) -> str:
        return "x" * size

    @app.task(name="odd", store_result=True)
    def odd() -> object:
        return datetime.date(2026, 12, 7)  # not JSON for the default encoder

    return {"add": add, "boom": boom, "plain": plain, "big": big, "odd": odd}


@pytest.fixture
def tasks(app: procrastinate.App) -> dict[str, Any]:
    return register_tasks(app)


def listening_connections(db: psycopg.Connection) -> int:
    row = db.execute(
        "select count(*) as n from pg_stat_activity "
        "where datname = current_database() and query ilike 'listen%%'"
    ).fetchone()
    assert row is not None
    return row["n"]


async def test_a_result_is_stored_and_read_back_from_python_and_sql(
    app: procrastinate.App, tasks: dict[str, Any], db: psycopg.Connection
) -> None:
    job_id = await tasks["add"].defer_async(a=2, b=3)
    running = Running(app, concurrency=2)
    try:
        finished = await app.job_manager.wait_for_job_async(job_id, timeout=30)
    finally:
        await running.stop()
    assert finished.status.value == "succeeded"
    assert finished.value() == {"sum": 5, "inputs": [2, 3, None]}
    row = db.execute(
        "select status::text as status, result from procrastinate_job_result(%s)", [job_id]
    ).fetchone()
    assert row == {"status": "succeeded", "result": {"sum": 5, "inputs": [2, 3, None]}}


async def test_defer_and_wait_returns_what_the_task_returned(
    app: procrastinate.App, tasks: dict[str, Any]
) -> None:
    running = Running(app, concurrency=2)
    try:
        assert await tasks["add"].defer_and_wait_async(a=1, b=1) == {
            "sum": 2,
            "inputs": [1, 1, None],
        }
        # a task that does not store its result by default: defer_and_wait asks for it
        assert await tasks["plain"].defer_and_wait_async() == 3
    finally:
        await running.stop()


async def test_a_wait_that_times_out_leaves_the_job_waiting(
    app: procrastinate.App, tasks: dict[str, Any]
) -> None:
    job_id = await tasks["add"].defer_async(a=1, b=2)
    with pytest.raises(exceptions.WaitTimeout):
        await app.job_manager.wait_for_job_async(job_id, timeout=0.2)
    assert await app.job_manager.get_job_status_async(job_id) == procrastinate.jobs.Status.TODO
    with pytest.raises(exceptions.WaitTimeout):
        await tasks["add"].configure().defer_and_wait_async(wait_timeout=0.2, a=1, b=2)


async def test_a_failing_job_raises_its_error_at_the_waiter(
    app: procrastinate.App, tasks: dict[str, Any]
) -> None:
    job_id = await tasks["boom"].defer_async(message="the disk is full")
    running = Running(app, concurrency=2)
    try:
        with pytest.raises(exceptions.JobFailed) as caught:
            await app.job_manager.wait_for_job_async(job_id, timeout=30)
    finally:
        await running.stop()
    failure = caught.value
    assert failure.job_id == job_id
    assert failure.error_type == "ValueError"
    assert "ValueError" in failure.error_types and "Exception" in failure.error_types
    assert failure.message == "ValueError: the disk is full"
    assert failure.error_traceback is not None
    assert "in boom" in failure.error_traceback
    assert failure.error_traceback.rstrip().endswith("ValueError: the disk is full")


async def test_a_cancelled_job_and_an_unknown_job(
    app: procrastinate.App, tasks: dict[str, Any]
) -> None:
    job_id = await tasks["add"].defer_async(a=1, b=2)
    waiter = asyncio.create_task(app.job_manager.wait_for_job_async(job_id, timeout=30))
    await asyncio.sleep(0)  # the wait is registered before the cancel
    assert await app.job_manager.cancel_job_by_id_async(job_id)
    with pytest.raises(exceptions.JobCancelled) as caught:
        await waiter
    assert caught.value.status == "cancelled"
    with pytest.raises(exceptions.JobNotFound):
        await app.job_manager.wait_for_job_async(10**12, timeout=30)


async def test_results_over_the_limit_or_not_json_are_not_stored_and_the_job_succeeds(
    app: procrastinate.App, tasks: dict[str, Any], db: psycopg.Connection
) -> None:
    db.execute("update procrastinate_settings set max_result_bytes = 1000")
    big_id = await tasks["big"].defer_async(size=5000)
    small_id = await tasks["big"].defer_async(size=10)
    odd_id = await tasks["odd"].defer_async()
    running = Running(app, concurrency=3)
    try:
        big, small, odd = await app.job_manager.wait_for_jobs_async(
            [big_id, small_id, odd_id], timeout=30
        )
    finally:
        await running.stop()
    assert isinstance(big, waiting.FinishedJob) and isinstance(odd, waiting.FinishedJob)
    assert big.status.value == "succeeded" and big.result is None
    assert big.result_error is not None and "max_result_bytes" in big.result_error
    with pytest.raises(exceptions.ResultNotStored, match="max_result_bytes"):
        big.value()
    assert small.value() == "x" * 10  # type: ignore[union-attr]
    assert odd.status.value == "succeeded" and odd.result is None
    assert odd.result_error is not None and "not JSON-serialisable (date)" in odd.result_error


async def test_a_job_without_store_result_keeps_no_result_and_is_found_by_polling(
    app: procrastinate.App, tasks: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(waiting, "POLL_INTERVAL", 0.05)
    job_id = await tasks["plain"].defer_async()
    running = Running(app, concurrency=1)
    try:
        finished = await app.job_manager.wait_for_job_async(job_id, timeout=30)
    finally:
        await running.stop()
    assert finished.status.value == "succeeded" and not finished.store_result
    with pytest.raises(exceptions.ResultNotStored, match="not deferred with store_result"):
        finished.value()


async def test_the_end_of_a_store_result_job_is_announced(
    app: procrastinate.App, tasks: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Polling an hour apart: only the notification can end these waits in time.
    monkeypatch.setattr(waiting, "POLL_INTERVAL", 3600.0)
    monkeypatch.setattr(waiting, "SAFETY_POLL_INTERVAL", 3600.0)
    job_id = await tasks["add"].defer_async(a=20, b=22)
    waits = asyncio.create_task(app.job_manager.wait_for_job_async(job_id, timeout=30))
    waiter = waiting.waiter(app.job_manager)
    await poll(lambda: waiter._listening, "the waiter to listen")
    running = Running(app, concurrency=1)
    try:
        finished = await waits
    finally:
        await running.stop()
    assert finished.value()["sum"] == 42


async def test_ten_thousand_jobs_waited_on_at_once_with_one_listening_connection(
    app: procrastinate.App,
    tasks: dict[str, Any],
    db: psycopg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(waiting, "LINGER", 0.1)
    ids = await tasks["add"].batch_defer_async(*({"a": n, "b": 1} for n in range(10_000)))
    waits = [app.job_manager.wait_for_job_async(job_id, timeout=120) for job_id in ids]
    gathered = asyncio.gather(*waits)
    await poll(lambda: listening_connections(db) == 1, "the waits to listen")
    assert listening_connections(db) == 1
    running = Running(app, concurrency=50)
    try:
        results = await gathered
    finally:
        await running.stop()
    assert [finished.value()["sum"] for finished in results] == [n + 1 for n in range(10_000)]
    # every wait is settled: the waiter stops listening (after LINGER)
    await poll(lambda: listening_connections(db) == 0, "the waiter to stop listening")


async def test_as_completed_over_many_waits(app: procrastinate.App, tasks: dict[str, Any]) -> None:
    ids = await tasks["add"].batch_defer_async(*({"a": n, "b": 0} for n in range(20)))
    running = Running(app, concurrency=4)
    try:
        sums = [
            (await finished).value()["sum"]
            for finished in asyncio.as_completed(
                [app.job_manager.wait_for_job_async(job_id, timeout=30) for job_id in ids]
            )
        ]
    finally:
        await running.stop()
    assert sorted(sums) == list(range(20))


def test_waiting_from_synchronous_code(sync_app: procrastinate.App, db: psycopg.Connection) -> None:
    tasks = register_tasks(sync_app)
    job_id = tasks["add"].defer(a=4, b=5)
    with pytest.raises(exceptions.WaitTimeout):
        sync_app.job_manager.wait_for_job(job_id, timeout=0.2)
    # A worker in another language: claims and finishes the job in SQL.
    claimed = db.execute("select id from procrastinate_fetch_jobs(null, 1)").fetchall()
    assert [row["id"] for row in claimed] == [job_id]
    db.execute(
        "select procrastinate_finish_job(%s, 'succeeded', result => %s::jsonb)",
        [job_id, '{"sum": 9}'],
    )
    assert sync_app.job_manager.wait_for_job(job_id, timeout=30).value() == {"sum": 9}


def listening_pids(db: psycopg.Connection) -> list[int]:
    rows = db.execute(
        "select pid from pg_stat_activity "
        "where datname = current_database() and query ilike 'listen%%'"
    ).fetchall()
    return [row["pid"] for row in rows]


async def test_the_next_wait_finds_the_listening_connection_in_place(
    app: procrastinate.App, tasks: dict[str, Any], db: psycopg.Connection
) -> None:
    running = Running(app, concurrency=1)
    try:
        first = await tasks["add"].defer_and_wait_async(a=1, b=2)
        assert first["sum"] == 3
        await poll(lambda: len(listening_pids(db)) == 2, "the worker and the waiter to listen")
        before = set(listening_pids(db))
        second = await tasks["add"].defer_and_wait_async(a=2, b=2)
        assert second["sum"] == 4
        assert set(listening_pids(db)) == before  # no new connection, no new LISTEN
    finally:
        await running.stop()


# The claims of the releases before, each over the claim of this one (renamed
# hidden_claim, which the driver cannot see): what a database whose post
# migration is pending has.
OLD_CLAIM_COLUMNS = {
    "0043_job_timeouts": "store_result boolean, parents bigint[], headers jsonb, "
    "waited double precision",
    "0041_concurrency_limits": "store_result boolean, parents bigint[], headers jsonb, "
    "waited double precision",
    "0040_job_headers": "store_result boolean, parents bigint[]",
    "0037_results_and_dependencies": "",
}
OLD_CLAIM_NAMES = {
    "0043_job_timeouts": "procrastinate_fetch_jobs_v4",
    "0041_concurrency_limits": "procrastinate_fetch_jobs_v4",
    "0040_job_headers": "procrastinate_fetch_jobs_v3",
    "0037_results_and_dependencies": "procrastinate_fetch_jobs_v2",
}
#: The claims that took p_slots (0041 added it to procrastinate_fetch_jobs_v4).
OLD_CLAIMS_WITH_SLOTS = {"0043_job_timeouts"}
COMMON_COLUMNS = (
    "id bigint, queue_name text, task_name text, priority integer, lock text, "
    "queueing_lock text, args jsonb, status procrastinate_job_status, "
    "scheduled_at timestamptz, attempts integer, abort_requested boolean, worker_id bigint"
)


def install_old_claims(db: psycopg.Connection, pending: str) -> None:
    """The schema as it was before ``pending`` ran, as far as claims go."""
    signature = "bigint, text[], integer, uuid, boolean, timestamptz"
    db.execute(
        f"alter function procrastinate_fetch_jobs_v5({signature}, integer) rename to hidden_claim"
    )
    db.execute(f"drop function procrastinate_fetch_jobs_v4({signature}, integer)")
    db.execute(f"drop function procrastinate_fetch_jobs_v3({signature})")
    db.execute(f"drop function procrastinate_fetch_jobs_v2({signature})")
    order = list(OLD_CLAIM_NAMES)
    created = set()
    for migration in order[order.index(pending):]:
        name, extra = OLD_CLAIM_NAMES[migration], OLD_CLAIM_COLUMNS[migration]
        if name in created:  # the newest of a name only: as the database had it
            continue
        created.add(name)
        columns = COMMON_COLUMNS + (", " + extra if extra else "")
        selected = ", ".join("f." + column.split()[0] for column in columns.split(", "))
        slots = migration in OLD_CLAIMS_WITH_SLOTS
        db.execute(
            f"""create function {name}(
                p_worker_id bigint, p_queues text[], p_limit integer,
                p_claim_token uuid default null, p_resume boolean default false,
                p_now timestamptz default null
                {", p_slots integer default null" if slots else ""}
            ) returns table ({columns})
            language sql set search_path = pg_catalog, public, pg_temp as $$
                select {selected}
                from hidden_claim(
                    p_worker_id, p_queues, p_limit, p_claim_token, p_resume, p_now
                    {", p_slots" if slots else ""}
                ) as f
            $$"""
        )


@pytest.mark.parametrize("pending", list(OLD_CLAIM_NAMES))
async def test_a_worker_claims_on_a_schema_whose_post_migration_is_pending(
    app: procrastinate.App, tasks: dict[str, Any], db: psycopg.Connection, pending: str
) -> None:
    # Between the two phases of an upgrade the database has the previous
    # release's claims only: the worker falls back to the newest it finds.
    install_old_claims(db, pending)
    if pending == "0041_concurrency_limits":
        db.execute("drop function procrastinate_register_limits_v1(jsonb)")
        app.queue_limits = {"default": 5}  # cannot be set: the worker says so and runs
    job_id = await tasks["plain"].defer_async()
    running = Running(app, concurrency=1)
    try:
        await poll(
            lambda: db.execute(
                "select status::text as s from procrastinate_jobs where id = %s", [job_id]
            ).fetchone()["s"]
            == "succeeded",
            "the job to run",
        )
    finally:
        await running.stop()
