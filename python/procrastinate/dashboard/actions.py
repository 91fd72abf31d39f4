"""What the dashboard changes: POST only, each through a SQL function, each
refused unless actions are on, the sender holds the credential and the form
carries its CSRF token (security.py)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from procrastinate import exceptions
from procrastinate.dashboard import queries, security
from procrastinate.dashboard.pages import connector
from procrastinate.dashboard.rendering import render

Action = Callable[[Request, Any], Awaitable[str]]

#: The dashboard's forms are a few short fields: a larger body is refused.
MAX_FORM_BYTES = 64 * 1024


async def read_form(request: Request) -> dict[str, str] | None:
    """The fields of an urlencoded form (the only kind our pages send; read
    here rather than with python-multipart, a dependency for one call), or
    None when the body is not one."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return None
    return dict(pairs)


def refuse(request: Request, status_code: int, message: str) -> Response:
    return render(request, "error.html", status_code=status_code, page="", message=message)


def action(run: Action) -> Callable[[Request], Awaitable[Response]]:
    """The checks every action makes, then ``run``, which returns where to go next."""

    async def endpoint(request: Request) -> Response:
        guard: security.Guard = request.app.state.guard
        if guard.read_only:
            return refuse(request, 403, "This dashboard is read-only.")
        if not guard.authenticated(request):
            return refuse(request, 401, "Sign in with the dashboard's token to act.")
        form = await read_form(request) or {}
        if not guard.csrf_ok(request, form):
            return refuse(request, 403, "Missing or wrong CSRF token: reload the page and retry.")
        try:
            target = await run(request, form)
        except exceptions.ConnectorException as exc:
            # PT003 (no such job), PT004 (not in a status that allows it)...
            return refuse(request, 409, str(exc.__cause__ or exc))
        return RedirectResponse(target, status_code=303)

    return endpoint


def job_id(request: Request) -> int:
    return int(request.path_params["job_id"])


async def retry_job(request: Request, form: Any) -> str:
    await queries.retry_job(connector(request), job_id(request))
    return request.url_for("job", job_id=job_id(request)).path


async def cancel_job(request: Request, form: Any) -> str:
    await queries.cancel_job(connector(request), job_id(request), abort=False)
    return request.url_for("job", job_id=job_id(request)).path


async def abort_job(request: Request, form: Any) -> str:
    await queries.cancel_job(connector(request), job_id(request), abort=True)
    return request.url_for("job", job_id=job_id(request)).path


async def pause_queue(request: Request, form: Any) -> str:
    await queries.pause_queue(connector(request), str(form.get("queue", "")))
    return request.url_for("queues").path


async def resume_queue(request: Request, form: Any) -> str:
    await queries.resume_queue(connector(request), str(form.get("queue", "")))
    return request.url_for("queues").path


async def retry_failure_group(request: Request, form: Any) -> str:
    # an empty error type stands for the group failed without one (null)
    error_type = str(form.get("error_type", "")) or None
    await queries.retry_failure_group(connector(request), str(form.get("task", "")), error_type)
    return request.url_for("failures").path


async def login(request: Request) -> Response:
    guard: security.Guard = request.app.state.guard
    form = await read_form(request) or {}
    # CSRF on the login too: no other site may sign a browser in
    if guard.read_only or not guard.csrf_ok(request, form):
        return refuse(request, 403, "Signing in is not possible here, or the form was stale.")
    if not guard.token_matches(str(form.get("token", ""))):
        return render(request, "login.html", status_code=403, page="login", failed=True)
    response = RedirectResponse(request.url_for("overview").path, status_code=303)
    security.set_cookie(request, response, security.LOGIN_COOKIE, guard.login_cookie())
    return response


async def logout(request: Request, form: Any) -> str:
    return request.url_for("overview").path


async def logout_endpoint(request: Request) -> Response:
    response = await action(logout)(request)
    if response.status_code == 303:
        response.delete_cookie(security.LOGIN_COOKIE, path=security.cookie_path(request))
    return response
