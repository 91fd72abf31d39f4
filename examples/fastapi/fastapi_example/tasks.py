"""The procrastinate app and its tasks.

The connector reads the database from libpq's environment (PGHOST,
PGDATABASE, ...) or from DATABASE_URL. Run a worker with:

    procrastinate --app=fastapi_example.tasks.app worker
"""

import os

import procrastinate

app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(conninfo=os.environ.get("DATABASE_URL", ""))
)


@app.task(queue="sums", retry=3)
async def add(a: int, b: int) -> int:
    return a + b
