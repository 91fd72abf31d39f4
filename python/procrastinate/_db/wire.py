"""The wire format of the SQL API, as the driver writes and reads it: the
JSON job object a defer sends, the outcome a finish sends (built, its error
message made jsonb-safe, simplified when the database refused it), and the
args of fetched rows (decoded per job). docs/sql-api.md describes them for
every language; this is the Python side.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from procrastinate import retry
from procrastinate.jobs import Job, Status

if TYPE_CHECKING:
    from procrastinate import connector as connector_module


def job_object(job: Job, retry_policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON job object of docs/sql-api.md for ``job``; None values are
    left out (the SQL defaults apply). A relative ``scheduled_in`` among the
    extra keys wins over the job's ``scheduled_at`` (an estimate)."""
    scheduled_at = job.scheduled_at.isoformat() if job.scheduled_at else None
    if retry_policy and "scheduled_in" in retry_policy:
        scheduled_at = None
    values = {
        "task_name": job.task_name,
        "args": job.task_kwargs,
        "queue_name": job.queue,
        "priority": job.priority,
        "lock": job.lock,
        "queueing_lock": job.queueing_lock,
        "scheduled_at": scheduled_at,
        "store_result": job.store_result or None,
        "after": list(job.parents) if job.parents else None,
        "headers": job.headers or None,
        "limit_key": job.limit_key,
        "timeout": job.timeout,
        **(retry_policy or {}),
    }
    return {key: value for key, value in values.items() if value is not None}


def error_message(exception: BaseException) -> str:
    """The exception as one message for an outcome. jsonb refuses the NUL
    character (SQLSTATE 22P05): it is escaped, so that no message can make
    the database refuse a batch of outcomes."""
    text = "".join(traceback.format_exception_only(type(exception), exception))
    return _jsonb_safe(text.strip())


def _jsonb_safe(text: str) -> str:
    """``text`` with NUL escaped: jsonb refuses it (SQLSTATE 22P05)."""
    return text.replace("\x00", "\\x00")


#: The longest traceback an outcome carries (its last characters: the end
#: of a traceback says most).
MAX_TRACEBACK_CHARS = 20_000
#: A result longer than this (JSON text) is not sent: it is above the highest
#: procrastinate_settings.max_result_bytes can be.
MAX_RESULT_CHARS = 268_435_456


def error_traceback(exception: BaseException) -> str:
    """The exception's traceback as text, jsonb-safe, at most
    MAX_TRACEBACK_CHARS (the end)."""
    text = "".join(traceback.format_exception(type(exception), exception, exception.__traceback__))
    return _jsonb_safe(text[-MAX_TRACEBACK_CHARS:])


def result_member(result: Any, dump_json: Callable[[Any], str]) -> dict[str, Any]:
    """The outcome's ``result`` (what the task returned, JSON-serialisable
    with the connector's ``dump_json``), or a ``result_error`` saying why it
    cannot be stored: the run itself succeeded, and stays so."""
    try:
        text = dump_json(result)
    except Exception as exc:  # noqa: BLE001 - any encoder error: the result only is lost
        cause = exc.__cause__ or exc
        return {
            "result_error": f"the result is not JSON-serialisable ({type(result).__name__}): "
            f"{error_message(cause)}: not stored"
        }
    if len(text) > MAX_RESULT_CHARS:
        return {
            "result_error": f"the result ({len(text)} characters of JSON) is over the "
            f"highest limit of {MAX_RESULT_CHARS}: not stored"
        }
    return {"result": result}


def build_outcome(
    job: Job,
    status: Status | str,
    *,
    exception: BaseException | None = None,
    retry_decision: dict[str, Any] | bool | None = None,
    interrupted: bool = False,
    with_traceback: bool = False,
) -> dict[str, Any]:
    """An outcome for finish_jobs_async: ``status`` is succeeded, failed or
    aborted; ``exception`` the error of a failure; ``retry_decision`` None
    (the job's policy decides), False (never retry) or the dict of
    ``retry.retry_decision_to_outcome`` (explicit decision); ``interrupted``
    an aborted run cut short by its worker's shutdown, which the database
    retries like a failure when the policy (or the decision) allows;
    ``with_traceback``: the error carries the exception's traceback."""
    outcome: dict[str, Any] = {
        "id": job.id,
        "attempt": job.attempts,
        "status": Status(status).value,
    }
    if interrupted:
        outcome["interrupted"] = True
    if exception is not None:
        outcome["error"] = {
            "types": retry.exception_type_names(exception),
            "message": error_message(exception),
        }
        if with_traceback:
            outcome["error"]["traceback"] = error_traceback(exception)
    if retry_decision is not None:
        outcome["retry"] = retry_decision
    return outcome


def decode_fetched_args(
    row: dict[str, Any], json_loads: Callable[[Any], Any] | None, loads_bytes: bool
) -> str | None:
    """Decode the args of a fetched row in place (FETCH_JOBS sends them as
    text). None when they decode to a JSON object; else why not, and the
    row's args are left empty: that job fails, the others of the fetch run.
    ``loads_bytes``: the connector's ``json_loads`` gets bytes (as psycopg 3
    gives a jsonb value), not str."""
    raw = row["args"]
    try:
        if raw is None:
            args: Any = {}
        elif not isinstance(raw, (str, bytes)):
            args = raw  # a connector that decoded them already
        elif json_loads is None:
            args = json.loads(raw)
        else:
            args = json_loads(raw.encode() if loads_bytes and isinstance(raw, str) else raw)
        if not isinstance(args, dict):
            raise TypeError(
                f"they decode to {type(args).__name__}, not to a JSON object (dict)"
            )
    except Exception as exc:  # noqa: BLE001 - any decoder error fails that job only
        row["args"] = {}
        return (
            f"Could not decode the args of job {row['id']} (task {row['task_name']!r}): "
            f"{error_message(exc)}"
        )
    row["args"] = args
    return None


def decode_headers(raw: Any) -> dict[str, str] | None:
    """The headers of a fetched row (sent as text): a JSON object of
    strings, as the defer checked; None if they are anything else."""
    try:
        headers = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
    except ValueError:
        return None
    return headers if isinstance(headers, dict) else None


def loads_bytes(connector: connector_module.BaseConnector) -> bool:
    """Whether the connector's json_loads was given bytes by its driver:
    psycopg 3 passes a jsonb value as bytes (psycopg2 and Django as str)."""
    try:
        from procrastinate import sync_psycopg_connector
    except ImportError:  # pragma: no cover - psycopg 3 not installed
        return False
    return isinstance(connector, sync_psycopg_connector.PsycopgAdapter)


def simplified_outcome(outcome: dict[str, Any]) -> dict[str, Any]:
    """The outcome without anything unusual: ASCII message, no retry detail."""
    slim: dict[str, Any] = {
        key: outcome[key] for key in ("id", "attempt", "status") if key in outcome
    }
    error = outcome.get("error")
    if error:
        message = str(error.get("message", ""))[:10000]
        slim["error"] = {
            "types": [str(name) for name in error.get("types") or []],
            "message": message.encode("ascii", "backslashreplace").decode("ascii"),
        }
    if "retry" in outcome:
        slim["retry"] = False
    return slim
