"""A fetch whose answer is lost after the database committed it (the
connection dropped on the way back): the jobs it claimed are held by the
worker in the database, but the worker never saw them. The next fetch
resumes the claim with the same token, and the database hands them back
(procrastinate_fetch_jobs_v2): no job stays stuck in doing, none runs twice.
"""

from __future__ import annotations

import procrastinate
from procrastinate import exceptions
from procrastinate._db import queries

from worker_helpers import job_row, one_shot


class LosingConnector(procrastinate.PsycopgConnector):
    """A real connector whose first fetch is committed, then its answer lost."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fetches: list[dict] = []

    async def _execute(self, query, arguments, fetch):
        result = await super()._execute(query, arguments, fetch)
        if query == queries.FETCH_JOBS:
            self.fetches.append(dict(arguments))
            if len(self.fetches) == 1:
                raise exceptions.ConnectorException("connection lost after the commit")
        return result


async def test_the_jobs_of_a_lost_fetch_answer_run_once(db_dsn, db):
    app = procrastinate.App(connector=LosingConnector(conninfo=db_dsn))
    runs = []

    @app.task(name="counted")
    def counted(i):
        runs.append(i)

    async with app.open_async():
        ids = [await counted.defer_async(i=i) for i in range(3)]
        await one_shot(app, fetch_job_polling_interval=0.01)

    assert sorted(runs) == [0, 1, 2]
    for job_id in ids:
        row = job_row(db, job_id)
        assert (row["status"], row["attempts"]) == ("succeeded", 1)
    # The retry resumed the lost claim, under the same token.
    first, second = app.connector.fetches[:2]
    assert first["claim_token"] == second["claim_token"]
    assert (first["resume"], second["resume"]) == (False, True)
