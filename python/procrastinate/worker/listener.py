"""The worker's LISTEN side: notifications wake the producer and the abort
checks sooner than their polling would. A notification is a hint, never an
order (anyone allowed to NOTIFY can send one; a forged payload at worst wakes
a loop): jobs are fetched, and aborts confirmed, in the database. If
listening fails, the worker goes on polling.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from procrastinate import manager
    from procrastinate.worker.state import WorkerState


class Listener:
    def __init__(
        self,
        state: WorkerState,
        job_manager: manager.JobManager,
        check_aborts: Callable[[], None],
    ):
        self.state = state
        self.job_manager = job_manager
        self.check_aborts = check_aborts

    async def run(self) -> None:
        state = self.state
        try:
            await self.job_manager.listen_for_jobs_async(
                self.on_notification, on_listening=self.on_listening
            )
        except Exception as exc:
            state.log(
                logging.ERROR,
                "listener_error",
                f"Listening for notifications failed ({exc}); polling only from now on",
                exc_info=exc,
            )

    def on_listening(self) -> None:
        # Notifications sent before LISTEN was in place are lost: look now.
        self.state.wake.set()
        self.check_aborts()

    def on_notification(self, notification: dict[str, Any]) -> None:
        state = self.state
        kind = notification.get("type")
        if kind == "job_available":
            queues = notification.get("queues")
            served = state.options.queues
            if (
                served is None
                or not isinstance(queues, list)
                or set(map(str, queues)) & set(served)
            ):
                state.wake.set()
        elif kind == "abort_requested":
            job_ids = notification.get("job_ids")
            if not isinstance(job_ids, list) or any(
                isinstance(job_id, int) and state.holds(job_id) for job_id in job_ids
            ):
                self.check_aborts()
