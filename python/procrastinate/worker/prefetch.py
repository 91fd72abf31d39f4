"""Jobs claimed ahead: the worker's prefetch buffer.

When every slot is busy with short jobs, the round trip of a fetch is what
limits a worker: a slot that frees waits for it. So the worker claims a few
jobs more than its free slots and keeps them here, and a slot that frees
takes the next one at once; fetches come less often and carry more jobs.

Claimed jobs are ``doing`` in the database, held by this worker: if the
process dies they are rescued like any running job (the stalled-worker
rescue); when the worker stops, or when an abort is requested for one of
them, they are released unstarted (``procrastinate_release_jobs_v2``).

A claimed job waits while it could run elsewhere, so the buffer is used only
while the jobs of this worker are short: none with long jobs, where the
wait for a slot would be long and the round trip saved is negligible.
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
        if size < 0:
            raise ValueError(f"prefetch must be zero or more jobs, got {size}")
        self.size = size
        self._jobs: collections.OrderedDict[int, jobs.Job] = collections.OrderedDict()
        #: Moving average of job durations; None until a job ended.
        self.average_seconds: float | None = None

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

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
        if average is None:
            self.average_seconds = seconds
        else:
            self.average_seconds = average + AVERAGE_WEIGHT * (seconds - average)

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
