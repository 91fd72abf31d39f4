"""Hostile input, end to end through the Python API and the worker: odd
and huge queue names and locks, oversized and over-deep args, NUL
characters, exception messages the database cannot store."""

from __future__ import annotations

import random

import pytest

import procrastinate
from procrastinate import exceptions

NASTY = [
    "q" * 64,
    "é" * 32,  # 64 bytes, 32 characters
    "it's \"quoted\"",
    "$$; drop table procrastinate_jobs; $$",
    "100% %s %(name)s",
    "line\nbreak\r\ttab",
    "😀 multibyte ☃ 漢字",
]


def _huge(seed: int) -> str:
    """10,000 bytes that compress badly (no TOAST shortcut), with quotes,
    $$, %, newlines and multibyte characters."""
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789'\"$%\n\\é€😀"
    text = ""
    while len(text.encode()) < 10_000:
        text += rng.choice(alphabet)
    return text


@pytest.fixture
def recorded() -> list:
    return []


def _register(app: procrastinate.App, recorded: list) -> procrastinate.App:
    @app.task(name="echo", pass_context=True)
    async def echo(context: procrastinate.JobContext, value: str) -> None:
        recorded.append((context.job.queue, context.job.lock, value))

    @app.task(name="nul_error")
    async def nul_error() -> None:
        raise ValueError("bad byte \x00 in the message")

    return app


@pytest.fixture
def hostile_app(app: procrastinate.App, recorded: list) -> procrastinate.App:
    return _register(app, recorded)


@pytest.fixture
def hostile_sync_app(sync_app: procrastinate.App, recorded: list) -> procrastinate.App:
    return _register(sync_app, recorded)


async def _run(app: procrastinate.App, queues: list[str] | None = None) -> None:
    await app.run_worker_async(
        queues=queues, wait=False, install_signal_handlers=False, concurrency=4
    )


@pytest.mark.parametrize("name", [*NASTY, _huge(1)], ids=lambda n: f"{len(n.encode())}b")
async def test_odd_queue_names_and_locks_run_end_to_end(hostile_app, recorded, db, name):
    deferrer = hostile_app.configure_task(
        "echo", queue=name, lock=name, queueing_lock=name
    )
    job_id = await deferrer.defer_async(value=name)
    row = db.execute(
        "select queue_name, lock, queueing_lock from procrastinate_jobs where id = %s", [job_id]
    ).fetchone()
    assert row == {"queue_name": name, "lock": name, "queueing_lock": name}
    with pytest.raises(exceptions.AlreadyEnqueued):
        await deferrer.defer_async(value="again")
    await _run(hostile_app, queues=[name])
    assert recorded == [(name, name, name)]
    status = await hostile_app.job_manager.get_job_status_async(job_id)
    assert status.value == "succeeded"


async def _count(db) -> int:
    return db.execute("select count(*) as n from procrastinate_jobs").fetchone()["n"]


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


async def test_args_nested_10000_deep_are_refused_at_defer(hostile_app, db):
    with pytest.raises(exceptions.UnserializableArguments, match="nested too deeply"):
        await hostile_app.tasks["echo"].defer_async(value=_nested(10_000))
    assert await _count(db) == 0


async def test_args_over_the_depth_setting_are_refused_at_defer(hostile_app, db):
    # Serialisable by Python, deeper than procrastinate.max_args_depth (100).
    with pytest.raises(exceptions.InvalidJobDefinition, match="max_args_depth"):
        await hostile_app.tasks["echo"].defer_async(value=_nested(150))
    assert await _count(db) == 0


async def test_args_over_the_size_setting_are_refused_at_defer(hostile_app, db):
    # The owner's setting (a caller cannot change it: tests/py/security).
    db.execute("update procrastinate_settings set max_args_bytes = 1000")
    with pytest.raises(exceptions.InvalidJobDefinition, match="max_args_bytes") as info:
        await hostile_app.tasks["echo"].defer_async(value="x" * 5000)
    assert info.value.sqlstate == "PT001"
    assert await _count(db) == 0
    # Under the limit: accepted.
    await hostile_app.tasks["echo"].defer_async(value="x" * 100)
    assert await _count(db) == 1


@pytest.mark.parametrize("value", ["a\x00b", {"k\x00": 1}, ["\x00"]])
def test_nul_in_args_is_refused_at_defer(hostile_sync_app, db, value):
    with pytest.raises(exceptions.UnserializableArguments, match="NUL"):
        hostile_sync_app.tasks["echo"].defer(value=value)
    assert db.execute("select count(*) as n from procrastinate_jobs").fetchone()["n"] == 0


def test_escaped_backslash_u0000_text_is_fine(hostile_sync_app, db):
    # The six characters \u0000 (not a NUL) are plain text.
    hostile_sync_app.tasks["echo"].defer(value="\\u0000")
    row = db.execute("select args from procrastinate_jobs").fetchone()
    assert row["args"] == {"value": "\\u0000"}


async def test_nul_in_an_exception_message_does_not_fail_the_batch(hostile_app, recorded, db):
    failing = await hostile_app.tasks["nul_error"].defer_async()
    fine = [await hostile_app.tasks["echo"].defer_async(value=str(i)) for i in range(5)]
    await _run(hostile_app)
    rows = db.execute(
        "select id, status::text as status, last_error from procrastinate_jobs order by id"
    ).fetchall()
    by_id = {row["id"]: row for row in rows}
    assert by_id[failing]["status"] == "failed"
    assert "bad byte \\x00 in the message" in by_id[failing]["last_error"]
    assert all(by_id[job_id]["status"] == "succeeded" for job_id in fine)
