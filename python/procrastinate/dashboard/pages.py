"""The dashboard's pages (GET only: reading never changes the queue)."""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from procrastinate import exceptions
from procrastinate.dashboard import queries
from procrastinate.dashboard.activity import RANGES, Activity
from procrastinate.dashboard.rendering import render

#: The filters of the jobs list, as query parameters.
JOB_FILTERS = ("queue", "task", "status", "lock", "worker_id")


def connector(request: Request) -> queries.Connector:
    return request.app.state.procrastinate_app.connector


def activity(request: Request) -> Activity:
    return request.app.state.activity


async def queue_rows(request: Request) -> list[dict[str, Any]]:
    """Per queue: the backlog (waiting, running, paused) and the jobs
    succeeded and failed in the last hour and day; a queue with neither is
    not listed."""
    rows = {row["queue_name"]: dict(row) for row in await queries.queues(connector(request))}
    zero = {"succeeded_hour": 0, "failed_hour": 0, "succeeded_day": 0, "failed_day": 0}
    for row in rows.values():
        row.update(zero)
    for queue, counts in (await activity(request).totals(connector(request))).items():
        row = rows.setdefault(queue, {
            "queue_name": queue, "todo": 0, "doing": 0, "scheduled": 0, "paused": False,
            "oldest_waiting_seconds": None, **zero,
        })
        row.update(counts)
    return [rows[name] for name in sorted(rows)]


async def overview(request: Request) -> Response:
    return render(request, "overview.html", page="overview", queues=await queue_rows(request))


async def overview_queues(request: Request) -> Response:
    """The overview's table alone, that its script fetches to refresh it."""
    return render(request, "_queue_counts.html", queues=await queue_rows(request))


async def throughput(request: Request) -> Response:
    """The charts' data (``?range=hour|day``), as JSON (see activity.Activity.series)."""
    name = request.query_params.get("range", "hour")
    if name not in RANGES:
        return JSONResponse(
            {"error": f"range must be one of {', '.join(RANGES)}"}, status_code=400
        )
    return JSONResponse(await activity(request).series(connector(request), name))


def whole_number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


#: Ids read by one request of a filtered jobs list: a filter few jobs match
#: then costs one slice of the primary key per page, not the whole table;
#: the page offers to search the next, older slice.
SEARCH_SLICE = 100_000


def parse_time(value: str | None, label: str, errors: list[str]) -> datetime.datetime | None:
    """A time from the page's form (``datetime-local``: no zone, read as UTC)."""
    if not value:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        errors.append(f"{label}: {value!r} is not a date and time (YYYY-MM-DDTHH:MM).")
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def parse_args_search(value: str, errors: list[str]) -> dict[str, Any] | None:
    if not value.strip():
        return None
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        errors.append(f"Args search: not valid JSON ({exc}).")
        return None
    if not isinstance(parsed, dict):
        errors.append('Args search: give a JSON object, such as {"user_id": 42}.')
        return None
    return parsed


async def jobs(request: Request) -> Response:
    params = request.query_params
    filters: dict[str, Any] = {name: params.get(name) or None for name in JOB_FILTERS}
    if filters["status"] not in (None, *queries.STATUSES):
        filters["status"] = None
    worker_id = whole_number(filters.pop("worker_id"))
    before_id = whole_number(params.get("before"))
    errors: list[str] = []
    args_text = params.get("args") or ""
    args = parse_args_search(args_text, errors)
    created_from = parse_time(params.get("from"), "Created from", errors)
    created_to = parse_time(params.get("to"), "Created before", errors)
    if created_from and created_to and created_from >= created_to:
        errors.append("Created from must be before Created before.")
    shown = {
        **filters, "worker_id": worker_id, "args": args_text or None,
        "from": params.get("from") or None, "to": params.get("to") or None,
    }
    context: dict[str, Any] = {
        "page": "jobs", "filters": shown, "statuses": queries.STATUSES, "errors": errors,
        "next_before": None, "searched": None,
        "next_query": {k: v for k, v in shown.items() if v is not None},
    }
    if errors:
        return render(request, "jobs.html", status_code=400, jobs=[], **context)

    rows: list[dict[str, Any]] = []
    try:
        bounds = await queries.id_bounds(
            connector(request), created_from=created_from, created_to=created_to
        )
        if bounds is not None:
            first_id, last_id = bounds
            high = min(before_id, last_id + 1) if before_id else last_id + 1
            # a filter that may match few jobs reads one slice of ids per request
            narrowing = worker_id is not None or args is not None or any(filters.values())
            low = max(first_id - 1, high - 1 - SEARCH_SLICE) if narrowing else first_id - 1
            if high > first_id:
                rows = await queries.jobs(
                    connector(request), queue=filters["queue"], task=filters["task"],
                    status=filters["status"], lock=filters["lock"], worker_id=worker_id,
                    before_id=high, after_id=low, args=args, created_from=created_from,
                    created_to=created_to,
                )
            if len(rows) == queries.PAGE_SIZE:
                # a full page may have a next one: it starts below the last id shown
                context["next_before"] = rows[-1]["id"]
            elif low >= first_id:
                # the slice is searched: older jobs remain, in the next slice
                context["next_before"] = low + 1
                context["searched"] = (low + 1, high - 1)
    except exceptions.ConnectorException as exc:
        # a value the database refuses (a NUL in the args searched, a number
        # out of jsonb's range, a time out of timestamptz's): the user's input
        sqlstate = getattr(exc.__cause__, "sqlstate", None) or ""
        if not sqlstate.startswith("22"):
            raise
        errors.append(f"The search could not run: {exc.__cause__}")
        return render(request, "jobs.html", status_code=400, jobs=[], **context)
    return render(request, "jobs.html", jobs=rows, **context)


async def job(request: Request) -> Response:
    row = await queries.job(connector(request), int(request.path_params["job_id"]))
    if row is None:
        return render(request, "error.html", status_code=404, page="jobs",
                      message="No such job.")
    return render(request, "job.html", page="jobs", job=row)


async def failures(request: Request) -> Response:
    groups = await queries.failure_groups(connector(request))
    return render(request, "failures.html", page="failures", groups=groups)


async def workers(request: Request) -> Response:
    rows = await queries.workers(connector(request))
    return render(request, "workers.html", page="workers", workers=rows)


async def locks(request: Request) -> Response:
    rows = await queries.locks(connector(request))
    return render(request, "locks.html", page="locks", locks=rows)


async def queues(request: Request) -> Response:
    return render(request, "queues.html", page="queues", queues=await queue_rows(request))


async def periodic(request: Request) -> Response:
    """Periodic tasks: the cron expressions come from the App the dashboard
    was given (workers hold them; the database does not), the last tick
    from procrastinate_last_periodic_ticks_v1, the next one from the cron.
    A tick in the database of a task this App does not register is listed
    too, without cron."""
    app = request.app.state.procrastinate_app
    ticks = {
        (row["task_name"], row["periodic_id"]): int(row["defer_timestamp"])
        for row in await queries.periodic_ticks(connector(request))
    }
    now = time.time()
    rows = []
    registered = app.periodic_registry.periodic_tasks
    for (task_name, periodic_id), task in sorted(registered.items()):
        rows.append({
            "task_name": task_name, "periodic_id": periodic_id, "cron": task.cron,
            "last_tick": ticks.get((task_name, periodic_id)),
            "next_tick": next_tick(task.cron, now),
        })
    for (task_name, periodic_id), last in sorted(ticks.items()):
        if (task_name, periodic_id) not in registered:
            rows.append({
                "task_name": task_name, "periodic_id": periodic_id, "cron": None,
                "last_tick": last, "next_tick": None,
            })
    return render(request, "periodic.html", page="periodic", periodic=rows)


def next_tick(cron: str, now: float) -> int:
    """The next tick after ``now`` (unix seconds, UTC), as the worker computes it."""
    import croniter

    return round(croniter.croniter(cron, now).get_next(float))


async def login_form(request: Request) -> Response:
    return render(request, "login.html", page="login", failed=False)
