"""The worker's LISTEN side: notifications wake the producer and the abort
checks sooner than their polling would.

A notification is a hint, never an order: the worker polls anyway (a lost
notification costs one polling interval), and what it does on waking is
decided in the database. If listening fails, the worker goes on polling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from procrastinate import worker


class Listener:
    def __init__(self, worker: worker.Worker):
        self.worker = worker

    async def run(self) -> None:
        worker = self.worker
        try:
            await worker.app.job_manager.listen_for_jobs_async(
                self.on_notification, on_listening=self.on_listening
            )
        except Exception as exc:
            worker.logger.exception(
                f"Listening for notifications failed ({exc}); polling only from now on",
                extra=worker.log_extra("listener_error"),
            )

    def on_listening(self) -> None:
        # Notifications sent before LISTEN was in place are lost: look now.
        self.worker._wake.set()
        self.worker.aborts.check_soon()

    def on_notification(self, notification: dict[str, Any]) -> None:
        """A hint, never an order: anyone allowed to NOTIFY can send one (a
        forged payload of any shape at worst wakes a loop). Jobs are fetched,
        and aborts confirmed, in the database."""
        worker = self.worker
        kind = notification.get("type")
        if kind == "job_available":
            queues = notification.get("queues")
            if (
                worker.queues is None
                or not isinstance(queues, list)
                or set(map(str, queues)) & set(worker.queues)
            ):
                worker._wake.set()
        elif kind == "abort_requested":
            job_ids = notification.get("job_ids")
            if not isinstance(job_ids, list) or any(
                isinstance(job_id, int)
                and (job_id in worker._running or job_id in worker._buffer)
                for job_id in job_ids
            ):
                worker.aborts.check_soon()
