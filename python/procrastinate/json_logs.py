"""JSON log lines (``procrastinate --log-format json``): one JSON object
per line, for log processors that would otherwise parse text.

Every line has ``time`` (ISO 8601, UTC), ``level``, ``logger`` and
``message``; the records of the worker add what their ``extra`` holds
(docs/observability.md): ``action``, and for a job ``job_id``, ``task``,
``queue``, ``attempts``, ``status`` and, once it ended, ``duration`` (s);
the worker's ``worker`` (name) and ``worker_id``; any other member of the
``extra`` as it is (values JSON cannot hold as their ``repr``). An error's
traceback is in ``exception``.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

#: The attributes every LogRecord has: what is left is the caller's extra.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = {
            key: value for key, value in record.__dict__.items() if key not in _RECORD_ATTRIBUTES
        }
        job = extra.pop("job", None)
        worker = extra.pop("worker", None)
        if isinstance(job, dict):
            line.update(
                job_id=job.get("id"), task=job.get("task_name"), queue=job.get("queue"),
                attempts=job.get("attempts"), status=job.get("status"),
            )
        if isinstance(worker, dict):
            line.update(worker=worker.get("name"), worker_id=worker.get("worker_id"))
            if "job_id" not in line and worker.get("job_id") is not None:
                line["job_id"] = worker["job_id"]
        # the outcome's status (the end-of-job lines) over the fetched one
        line.update(extra)
        if "duration" in line and "end_timestamp" not in line:
            del line["duration"]  # a job that has not ended: no duration yet
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        try:
            return json.dumps(line, default=repr, ensure_ascii=False)
        except (TypeError, ValueError):  # keys JSON cannot hold, a cycle
            plain = (str, int, float, bool, type(None))
            safe = {
                key: value if isinstance(value, plain) else repr(value)
                for key, value in line.items()
            }
            return json.dumps(safe, ensure_ascii=False)


def handler() -> logging.Handler:
    """A stderr handler writing JsonFormatter lines."""
    stream = logging.StreamHandler()
    stream.setFormatter(JsonFormatter())
    return stream
