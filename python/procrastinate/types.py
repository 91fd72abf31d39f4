"""Type aliases shared by the driver's modules."""

from __future__ import annotations

import datetime
from typing import Any, NamedTuple, TypedDict

JSONValue = dict[str, Any] | list[Any] | str | int | float | bool | None
JSONDict = dict[str, JSONValue]


class TimeDeltaParams(TypedDict, total=False):
    """Keyword arguments of ``datetime.timedelta``, as in ``schedule_in``."""

    weeks: float
    days: float
    hours: float
    minutes: float
    seconds: float
    milliseconds: float
    microseconds: float


class JobToDefer(NamedTuple):
    """A job to defer, its fields as procrastinate 3.x names them (kept for
    code that imports it; ours defers job objects, docs/sql-api.md)."""

    queue_name: str
    task_name: str
    priority: int
    lock: str | None
    queueing_lock: str | None
    args: JSONDict
    scheduled_at: datetime.datetime | None
