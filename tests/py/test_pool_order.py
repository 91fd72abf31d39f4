"""The connectors' pools hand out the connection returned last: calls one
after another are served by one backend, warm, instead of each idle
connection in turn (psycopg_pool's order)."""

from __future__ import annotations

import asyncio

import procrastinate

PID = "select pg_backend_pid() as pid"


async def test_async_calls_in_a_row_reuse_one_connection(db_dsn):
    connector = procrastinate.PsycopgConnector(conninfo=db_dsn, min_size=3, max_size=3)
    async with procrastinate.App(connector=connector).open_async():
        assert len(connector.pool._pool) == 3  # every connection idle, ready
        pids = [(await connector.execute_query_one_async(PID))["pid"] for _ in range(9)]
        assert len(set(pids)) == 1, pids

        # calls at the same time still get connections of their own
        all_in = asyncio.Event()
        inside: list[int] = []

        async def held() -> int:
            async with connector.pool.connection() as connection:
                inside.append(1)
                if len(inside) == 3:
                    all_in.set()
                await all_in.wait()  # the three hold a connection at once
                row = await (await connection.execute(PID)).fetchone()
                assert row is not None
                return row[0]

        assert len(set(await asyncio.gather(held(), held(), held()))) == 3


def test_sync_calls_in_a_row_reuse_one_connection(db_dsn):
    connector = procrastinate.SyncPsycopgConnector(conninfo=db_dsn, min_size=3, max_size=3)
    with procrastinate.App(connector=connector).open():
        assert len(connector.pool._pool) == 3
        pids = [connector.execute_query_one(PID)["pid"] for _ in range(9)]
        assert len(set(pids)) == 1, pids
