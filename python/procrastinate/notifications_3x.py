"""procrastinate 3.x's notifications, for JobManager.listen_for_jobs.

Our database notifies on one channel, ``procrastinate``, once per statement,
naming queues (docs/sql-api.md, "Notifications"); 3.x notified once per job,
on a channel per queue and on one for every queue. listen_for_jobs gives its
callback 3.x's channel names and payloads.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from procrastinate import jobs as jobs_module

if TYPE_CHECKING:
    from procrastinate.manager import JobManager

ANY_QUEUE_CHANNEL = "procrastinate_any_queue_v1"
QUEUE_CHANNEL_PREFIX = "procrastinate_queue_v1#"


def get_channel_for_queues(queues: Iterable[str] | None = None) -> Iterable[str]:
    """procrastinate 3.x's channel names for ``queues`` (None: every queue):
    the ``channel`` listen_for_jobs passes to its callback. The database
    itself notifies on ``procrastinate`` only."""
    if queues is None:
        return [ANY_QUEUE_CHANNEL]
    return [QUEUE_CHANNEL_PREFIX + queue for queue in queues]


#: What listen_for_jobs passes as ``notification``.
ListenedNotification: TypeAlias = jobs_module.JobInserted | jobs_module.AbortJobRequested


class NotificationCallback(Protocol):
    """The callback of listen_for_jobs (a coroutine function, or a plain one)."""

    def __call__(
        self, *, channel: str, notification: ListenedNotification
    ) -> Awaitable[None] | None: ...


async def listen_as_3x(
    job_manager: JobManager,
    on_notification: NotificationCallback,
    queues: Iterable[str] | None,
) -> None:
    """JobManager.listen_for_jobs (its docstring says what it does)."""
    listened = None if queues is None else list(dict.fromkeys(queues))

    async def deliver(channel: str, notification: ListenedNotification) -> None:
        result = on_notification(channel=channel, notification=notification)
        if inspect.isawaitable(result):
            await result

    async def translate(payload: dict[str, Any]) -> None:
        kind = payload.get("type")
        if kind == "job_available":
            for channel in _available_channels(payload.get("queues"), listened):
                await deliver(channel, {"type": "job_inserted", "job_id": None})
        elif kind == "abort_requested":
            named = payload.get("job_ids")
            for channel, job_id in await _aborts_to_notify(job_manager, named, listened):
                await deliver(channel, {"type": "abort_job_requested", "job_id": job_id})

    listening_before = False

    async def on_listening() -> None:
        nonlocal listening_before
        if not listening_before:  # the first LISTEN: nothing missed yet
            listening_before = True
            return
        for channel in get_channel_for_queues(listened):
            await deliver(channel, {"type": "job_inserted", "job_id": None})
        for channel, job_id in await _aborts_to_notify(job_manager, None, listened):
            await deliver(channel, {"type": "abort_job_requested", "job_id": job_id})

    await job_manager.listen_for_jobs_async(translate, on_listening=on_listening)


async def _aborts_to_notify(
    job_manager: JobManager, named: Any, listened: list[str] | None
) -> list[tuple[str, int]]:
    """(channel, job id) of the running jobs of ``listened`` whose abort
    is pending, among those ``named`` (a list of ids; else all of them)."""
    wanted = (
        {job_id for job_id in named if isinstance(job_id, int)}
        if isinstance(named, list)
        else None
    )
    found = []
    for queue, channel in (
        [(None, ANY_QUEUE_CHANNEL)]
        if listened is None
        else [(queue, QUEUE_CHANNEL_PREFIX + queue) for queue in listened]
    ):
        for job_id in await job_manager.list_jobs_to_abort_async(queue):
            if wanted is None or job_id in wanted:
                found.append((channel, job_id))
    return found


def _available_channels(named: Any, listened: list[str] | None) -> list[str]:
    """The channels (3.x's) of a job_available payload naming ``named``
    queues (not a list: "some queue"), for a listener of ``listened``."""
    if listened is None:
        return [ANY_QUEUE_CHANNEL]
    if not isinstance(named, list):
        return [QUEUE_CHANNEL_PREFIX + queue for queue in listened]
    available = set(map(str, named))
    return [QUEUE_CHANNEL_PREFIX + queue for queue in listened if queue in available]
