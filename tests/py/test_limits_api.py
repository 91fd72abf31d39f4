"""JobManager's concurrency limits (docs/flow-control.md) against a real
database: set, listed with their use, changed, removed; errors as the
exceptions of their SQLSTATE, and nothing changed."""

from __future__ import annotations

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
         "held_back": 0},
        {"scope": "queue", "name": "emails", "concurrency": 3, "in_use": 0, "waiting": 1,
         "held_back": 0},
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
    with pytest.raises(exceptions.LimitNotFound, match='no concurrency limit on queue "x"'):
        await manager.remove_limit_async(queue="x")
    assert [
        (row["scope"], row["name"], row["concurrency"])
        for row in await manager.list_limits_async()
    ] == [("task", "send", 1)]
