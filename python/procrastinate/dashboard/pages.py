"""The dashboard's pages (GET only: reading never changes the queue)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from procrastinate.dashboard import queries
from procrastinate.dashboard.rendering import render

#: The filters of the jobs list, as query parameters.
JOB_FILTERS = ("queue", "task", "status", "lock", "worker_id")


def connector(request: Request) -> queries.Connector:
    return request.app.state.procrastinate_app.connector


async def overview(request: Request) -> Response:
    rows = await queries.queues(connector(request))
    return render(request, "overview.html", page="overview", queues=rows)


async def overview_queues(request: Request) -> Response:
    """The overview's table alone, that its script fetches to refresh it."""
    rows = await queries.queues(connector(request))
    return render(request, "_queue_counts.html", queues=rows)


def whole_number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


async def jobs(request: Request) -> Response:
    params = request.query_params
    filters = {name: params.get(name) or None for name in JOB_FILTERS}
    if filters["status"] not in (None, *queries.STATUSES):
        filters["status"] = None
    worker_id = whole_number(filters.pop("worker_id"))
    before_id = whole_number(params.get("before"))
    rows = await queries.jobs(
        connector(request), queue=filters["queue"], task=filters["task"],
        status=filters["status"], lock=filters["lock"], worker_id=worker_id, before_id=before_id,
    )
    shown = {**filters, "worker_id": worker_id}
    # a full page may have a next one: it starts below the last id shown
    next_before = rows[-1]["id"] if len(rows) == queries.PAGE_SIZE else None
    return render(
        request, "jobs.html", page="jobs", jobs=rows, filters=shown,
        statuses=queries.STATUSES, next_before=next_before,
        next_query={k: v for k, v in shown.items() if v is not None},
    )


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
    rows = await queries.queues(connector(request))
    return render(request, "queues.html", page="queues", queues=rows)


async def login_form(request: Request) -> Response:
    return render(request, "login.html", page="login", failed=False)
