"""The app of the shell tests (``procrastinate --app shell_app.app shell``);
its connector reads libpq's environment (PGDATABASE: the test database)."""

from __future__ import annotations

import procrastinate

app = procrastinate.App(connector=procrastinate.PsycopgConnector())


@app.task(name="sum_task")
def sum_task(a: int, b: int) -> int:
    return a + b
