"""The heartbeat, in a thread of its own: the lease is renewed even while a
task blocks the event loop, and such a block is named in the log.

The thread has its own connection (never the pool's, which the event loop
owns) with socket-level deadlines, so that a silent link fails a beat
instead of hanging it. Each beat renews the lease, then asks the database to
rescue the jobs of workers whose lease ran out. What a beat learns goes to
the loop (call_soon_threadsafe): the thread only reads ``worker_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psycopg
import psycopg.rows

from procrastinate._db import queries

if TYPE_CHECKING:
    from procrastinate.worker.health import Health
    from procrastinate.worker.state import WorkerState

#: A loop that does not answer for this long (seconds) is reported.
BLOCKED_LOOP_WARNING = 1.0
#: How often the thread looks at the loop (seconds).
WATCH_INTERVAL = 0.25


class HeartbeatThread:
    def __init__(
        self,
        state: WorkerState,
        health: Health,
        conninfo: str,
        kwargs: dict[str, Any],
        on_failure: Callable[[str, BaseException], None],
    ):
        self.state = state
        self.health = health
        #: Called on the loop if the thread dies of a bug: the worker stops.
        self.on_failure = on_failure
        self.loop = asyncio.get_running_loop()
        self.loop_thread_id = threading.get_ident()
        self.conninfo = conninfo
        # The worker's deadline on every step of the connection's life: the
        # connection, a statement, and a link that stops acknowledging.
        timeout = state.options.database_timeout
        self.kwargs = {
            **kwargs,
            "autocommit": True,
            "connect_timeout": max(2, round(timeout)),
            "tcp_user_timeout": int(timeout * 1000),
            "keepalives": 1,
            "keepalives_idle": max(1, round(timeout / 3)),
            "keepalives_interval": max(1, round(timeout / 3)),
            "keepalives_count": 3,
        }
        self.connection: psycopg.Connection[dict[str, Any]] | None = None
        self.stopped = threading.Event()
        name = f"procrastinate heartbeat {state.options.worker_name}"
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._ping_sent: float | None = None
        self._block_reported = False

    def start(self) -> None:
        self.thread.start()

    async def stop(self) -> None:
        self.stopped.set()
        await asyncio.to_thread(self.thread.join, self.state.options.database_timeout + 1)

    # --- the thread ---------------------------------------------------------------

    def _run(self) -> None:
        interval = self.state.options.update_heartbeat_interval
        next_beat = time.monotonic() + interval
        try:
            while not self.stopped.wait(
                min(WATCH_INTERVAL, max(0.0, next_beat - time.monotonic()))
            ):
                self._watch_loop()
                if time.monotonic() >= next_beat:
                    self._beat()
                    next_beat = time.monotonic() + interval
        except Exception as exc:  # a bug: without a heartbeat the worker must not go on
            self._to_loop(self.on_failure, "heartbeat thread", exc)
        finally:
            self._disconnect()

    def _beat(self) -> None:
        worker_id = self.state.worker_id
        if worker_id is None:
            return
        sent_at = time.monotonic()
        try:
            lease = self._query(queries.HEARTBEAT, worker_id=worker_id)[0]["lease"]
        except Exception as exc:
            self._disconnect()
            self._to_loop(self.health.beat_failed, exc)
            return
        self._to_loop(self.health.beat_succeeded, worker_id, sent_at, lease)
        if lease is None:
            return  # removed: the loop registers again; no rescue under that id
        try:
            rescued = self._query(queries.RESCUE_STALLED_JOBS, worker_id=worker_id)
        except Exception as exc:
            self._disconnect()
            self._to_loop(self.state.database_failed, "rescue stalled jobs", exc)
            return
        if rescued:
            self._to_loop(self.health.log_rescued, rescued)

    def _to_loop(self, callback: Any, *args: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: the worker is gone
            self.stopped.set()

    # --- the connection ---------------------------------------------------------

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        if self.connection is None or self.connection.closed:
            self.connection = psycopg.connect(
                self.conninfo, row_factory=psycopg.rows.dict_row, **self.kwargs
            )
            statement_ms = int(self.state.options.database_timeout * 1000)
            self.connection.execute(
                queries.SET_STATEMENT_TIMEOUT, {"milliseconds": statement_ms}
            )
        return self.connection

    def _disconnect(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # a broken connection: nothing to do
                connection.close()

    def _query(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
        return self._connect().execute(query, arguments).fetchall()

    # --- the event loop's health -------------------------------------------------

    def _watch_loop(self) -> None:
        now = time.monotonic()
        sent = self._ping_sent
        if sent is None:
            self._ping_sent = now
            self._to_loop(self._pong, now)
        elif now - sent >= BLOCKED_LOOP_WARNING and not self._block_reported:
            self._block_reported = True
            self.state.log(
                logging.WARNING,
                "event_loop_blocked",
                f"The event loop has not answered for {now - sent:.1f} s: "
                f"{self._blocker()} blocks it (async tasks must not block: "
                "use asyncio.to_thread or a sync task); the heartbeat goes on "
                "from its own thread",
                blocked_seconds=now - sent,
            )

    def _pong(self, sent: float) -> None:
        """On the event loop: it answered."""
        if self._block_reported:
            self.state.log(
                logging.WARNING,
                "event_loop_unblocked",
                f"The event loop answers again after {time.monotonic() - sent:.1f} s",
            )
        self._block_reported = False
        self._ping_sent = None

    def _blocker(self) -> str:
        """The running job whose code is on the loop thread's stack."""
        runs = {
            run.task.func.__code__: run
            for run in list(self.state.running.values())
            if run.task is not None and hasattr(run.task.func, "__code__")
        }
        frame = sys._current_frames().get(self.loop_thread_id)
        while frame is not None:
            run = runs.get(frame.f_code)
            if run is not None:
                return f"task {run.job.task_name} (job {run.job.id})"
            frame = frame.f_back
        return "code outside any job (a middleware, a callback or the worker)"
