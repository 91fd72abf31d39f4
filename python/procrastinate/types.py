"""Type aliases shared by the driver's modules."""

from __future__ import annotations

from typing import Any, TypedDict

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
