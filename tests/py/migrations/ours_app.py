"""Our side of the 3.x upgrade test: an app of this package registering the
task names of upstream_app.py, run by our worker CLI
(procrastinate --app ours_app.app worker --one-shot)."""

from __future__ import annotations

import procrastinate

app = procrastinate.App(connector=procrastinate.PsycopgConnector())


@app.task(name="upstream_app.ok")
def ok(x: int = 0) -> int:
    return x


@app.task(name="upstream_app.boom")
def boom() -> None:
    raise ValueError("boom")
