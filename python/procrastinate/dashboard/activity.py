"""Jobs succeeded and failed per queue and time bucket, for the overview's
charts and its counts of the last hour and day.

SQL counts them (procrastinate_dashboard_throughput_v1, from the jobs'
'succeeded' and 'failed' events, found through the events' primary key);
each dashboard process keeps the buckets that are over (ended more than
GRACE ago) and asks SQL only for the newer ones. A refresh then reads the
ends of the last minute or so, not of the whole day (bench/dashboard.py
measures both). An end is counted in the bucket where it happened: a job
that ended and was retried later stays counted there, as a newly started
dashboard would count it.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from procrastinate.dashboard import queries

#: A bucket is kept once it ended this long ago: a job finishing at its end
#: has committed by then.
GRACE = datetime.timedelta(seconds=60)


@dataclasses.dataclass(frozen=True)
class Range:
    name: str
    since: datetime.timedelta
    buckets: int

    @property
    def step(self) -> int:
        return int(self.since.total_seconds()) // self.buckets


RANGES = {
    "hour": Range("hour", datetime.timedelta(hours=1), 60),  # 60 buckets of a minute
    "day": Range("day", datetime.timedelta(days=1), 96),  # 96 buckets of 15 minutes
}

# {bucket start (unix s): {queue: [succeeded, failed]}}
Buckets = dict[int, dict[str, list[int]]]


class Activity:
    """The buckets of each range kept by one dashboard application."""

    def __init__(self) -> None:
        self.kept: dict[str, Buckets] = {name: {} for name in RANGES}

    async def series(
        self, connector: queries.Connector, name: str, now: datetime.datetime | None = None
    ) -> dict[str, Any]:
        """The range's JSON for the charts: ``{"range", "start" (unix s of
        the first bucket), "step" (s), "buckets", "queues": {name:
        {"succeeded": [...], "failed": [...]}}}``, zeros where no job ended."""
        chosen = RANGES[name]
        now = now or datetime.datetime.now(datetime.timezone.utc)
        step = chosen.step
        # SQL's buckets: aligned on their width, the last one holds now
        end = (int(now.timestamp()) // step + 1) * step
        start = end - step * chosen.buckets
        kept = self.kept[name]
        for old in [s for s in kept if s < start]:
            del kept[old]
        first_missing = start
        while first_missing in kept:
            first_missing += step
        missing = (end - first_missing) // step
        fresh: Buckets = {}
        rows = await queries.throughput(
            connector, since=datetime.timedelta(seconds=missing * step), buckets=missing,
            now=now,
        )
        for row in rows:
            bucket = fresh.setdefault(int(row["bucket_start"]), {})
            bucket[row["queue_name"]] = [int(row["succeeded"]), int(row["failed"])]
        over = int((now - GRACE).timestamp())
        for bucket_start in range(first_missing, end, step):
            if bucket_start + step <= over:
                kept[bucket_start] = fresh.get(bucket_start, {})
        all_buckets = {**kept, **fresh}
        series: dict[str, dict[str, list[int]]] = {}
        for bucket_start, by_queue in all_buckets.items():
            index = (bucket_start - start) // step
            if not 0 <= index < chosen.buckets:
                continue
            for queue, (succeeded, failed) in by_queue.items():
                counts = series.setdefault(
                    queue, {"succeeded": [0] * chosen.buckets, "failed": [0] * chosen.buckets}
                )
                counts["succeeded"][index] = succeeded
                counts["failed"][index] = failed
        return {
            "range": name, "start": start, "step": step, "buckets": chosen.buckets,
            "queues": series,
        }

    async def totals(self, connector: queries.Connector) -> dict[str, dict[str, int]]:
        """Per queue: succeeded and failed in the last hour and day (the
        charts' windows: 60 minutes, 96 quarters of an hour)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        out: dict[str, dict[str, int]] = {}
        for name in RANGES:
            data = await self.series(connector, name, now)
            for queue, counts in data["queues"].items():
                entry = out.setdefault(queue, {
                    "succeeded_hour": 0, "failed_hour": 0, "succeeded_day": 0, "failed_day": 0,
                })
                entry[f"succeeded_{name}"] = sum(counts["succeeded"])
                entry[f"failed_{name}"] = sum(counts["failed"])
        return out
