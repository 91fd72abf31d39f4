"""The app of the periodic worker tests (``procrastinate --app
periodic_app.app worker``); its connector reads libpq's environment
(PGDATABASE: the test database)."""

from __future__ import annotations

import procrastinate

app = procrastinate.App(connector=procrastinate.PsycopgConnector())


@app.periodic(cron="* * * * * *", periodic_id="every-second")
@app.task(name="every_second", queue="periodic")
def every_second(timestamp: int) -> None:
    pass
