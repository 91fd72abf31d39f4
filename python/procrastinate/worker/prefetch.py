"""Jobs claimed ahead: the worker's prefetch buffer.

While every slot is busy with short jobs, a fetch's round trip is what
limits a worker; so it claims a few jobs more than its free slots, and a
slot that frees takes the next one at once. Claimed jobs are ``doing``,
held by this worker (rescued with it if it dies, released unstarted when it
stops). A claimed job waits while it could run elsewhere: the buffer is
used only while this worker's jobs are short.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from procrastinate import jobs

#: Jobs this short (on average, seconds) are worth claiming ahead.
SHORT_JOB_SECONDS = 0.05
#: Weight of the newest run in the average duration.
AVERAGE_WEIGHT = 0.1


class PrefetchBuffer:
    def __init__(self, size: int):
        self.size = size
        self._jobs: collections.OrderedDict[int, jobs.Job] = collections.OrderedDict()
        #: Moving average of job durations; None until a job ended.
        self.average_seconds: float | None = None

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def job_ids(self) -> list[int]:
        return list(self._jobs)

    def add(self, fetched: Iterable[jobs.Job]) -> None:
        for job in fetched:
            assert job.id is not None
            self._jobs[job.id] = job

    def pop(self) -> jobs.Job:
        """The oldest claimed job (fetch order: priority, then id)."""
        return self._jobs.popitem(last=False)[1]

    def remove(self, job_ids: Iterable[int]) -> list[jobs.Job]:
        """Take these jobs out (those present); returns them."""
        return [job for job_id in job_ids if (job := self._jobs.pop(job_id, None))]

    def clear(self) -> list[jobs.Job]:
        taken = list(self._jobs.values())
        self._jobs.clear()
        return taken

    def job_lasted(self, seconds: float) -> None:
        average = self.average_seconds
        self.average_seconds = (
            seconds if average is None else average + AVERAGE_WEIGHT * (seconds - average)
        )

    @property
    def target(self) -> int:
        """How many jobs to hold ahead now: ``size`` while jobs are short,
        none until one ended or when they are long."""
        average = self.average_seconds
        if average is None or average >= SHORT_JOB_SECONDS:
            return 0
        return self.size

    def fetch_size(self, free_slots: int) -> int:
        """How many jobs to fetch now (0: none). ``free_slots``: slots that
        no running or claimed job will fill (negative: claimed jobs beyond
        the slots, waiting here). With free slots: those and the buffer's
        target. Otherwise: refill the buffer only once half of it is gone,
        so that fetches stay large."""
        target = self.target
        if free_slots > 0:
            return free_slots + target
        room = target + free_slots
        return room if room > 0 and room >= (target + 1) // 2 else 0
