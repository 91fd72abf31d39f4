"""JobManager's concurrency and rate limits (docs/flow-control.md) against a
real database: set, listed with their use, changed, removed; errors as the
exceptions of their SQLSTATE (or ValueError for a malformed rate), and
nothing changed."""

from __future__ import annotations

import datetime

import pytest

import procrastinate
from procrastinate import exceptions


async def test_set_list_change_and_remove_limits(app: procrastinate.App) -> None:
    manager = app.job_manager
    assert await manager.list_limits_async() == []
    await manager.set_limit_async(5, queue="emails")
    await manager.set_limit_async(2, limit_key="tenant:42")
    await manager.set_limit_async(3, queue="emails")
    await app.configure_task("send", queue="emails").defer_async()
    assert await manager.list_limits_async() == [
        {"scope": "key", "name": "tenant:42", "concurrency": 2, "in_use": 0, "waiting": 0,
         "held_back": 0, "rate": None, "per": None, "tokens": None},
        {"scope": "queue", "name": "emails", "concurrency": 3, "in_use": 0, "waiting": 1,
         "held_back": 0, "rate": None, "per": None, "tokens": None},
    ]
    await manager.remove_limit_async(queue="emails")
    assert [row["name"] for row in await manager.list_limits_async()] == ["tenant:42"]


async def test_bad_limits_raise_and_change_nothing(app: procrastinate.App) -> None:
    manager = app.job_manager
    await manager.set_limit_async(1, task="send")
    with pytest.raises(exceptions.InvalidJobDefinition, match="got -1"):
        await manager.set_limit_async(-1, task="send")
    with pytest.raises(exceptions.InvalidJobDefinition, match="exactly one"):
        await manager.set_limit_async(1, task="send", queue="emails")
    with pytest.raises(exceptions.LimitNotFound, match='no limit on queue "x"'):
        await manager.remove_limit_async(queue="x")
    assert [
        (row["scope"], row["name"], row["concurrency"])
        for row in await manager.list_limits_async()
    ] == [("task", "send", 1)]


async def test_rate_limits_are_set_in_each_form_and_kept_beside_concurrency(
    app: procrastinate.App,
) -> None:
    manager = app.job_manager
    await manager.set_limit_async(queue="emails", rate="100/m")
    await manager.set_limit_async(2, queue="emails")
    await manager.set_limit_async(task="call", rate=(5, datetime.timedelta(seconds=2)))
    await manager.set_limit_async(limit_key="tenant:1", rate=procrastinate.RateLimit(1, 0.5))
    rows = await manager.list_limits_async()
    assert [
        (row["scope"], row["name"], row["concurrency"], row["rate"], row["per"], row["tokens"])
        for row in rows
    ] == [
        ("key", "tenant:1", None, 1, 0.5, 1.0),
        ("queue", "emails", 2, 100, 60.0, 100.0),
        ("task", "call", None, 5, 2.0, 5.0),
    ]


async def test_bad_rates_raise_and_change_nothing(app: procrastinate.App) -> None:
    manager = app.job_manager
    await manager.set_limit_async(queue="emails", rate="10/s")
    for bad in ("10", "10/week", "-1/s", "ten/s", (1, 0), (1.5, 1), (1, "s"), 10, True):
        with pytest.raises(ValueError, match="the rate limit of set_limit must be"):
            await manager.set_limit_async(queue="emails", rate=bad)  # type: ignore[arg-type]
    with pytest.raises(exceptions.InvalidJobDefinition, match="a concurrency, a rate"):
        await manager.set_limit_async(queue="emails")
    assert [
        (row["name"], row["rate"], row["per"]) for row in await manager.list_limits_async()
    ] == [("emails", 10, 1.0)]
