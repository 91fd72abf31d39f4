"""Jinja2 templates of the dashboard, rendered with autoescape on: every
value from the database reaches the page as text, never as markup."""

from __future__ import annotations

import datetime
import json
import pathlib
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from procrastinate.dashboard.security import Guard

HERE = pathlib.Path(__file__).resolve().parent

ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    # autoescape for every template, whatever its name ends with
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def age(seconds: float | None) -> str:
    """A duration a human reads at a glance: 42 s, 3 min 5 s, 2 h 10 min."""
    if seconds is None:
        return "–"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def when(moment: datetime.datetime | None) -> str:
    if moment is None:
        return "–"
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def unix_time(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return when(datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc))


def interval(value: Any) -> str:
    if isinstance(value, datetime.timedelta):
        return age(value.total_seconds())
    return "–" if value is None else str(value)


ENVIRONMENT.filters.update(age=age, when=when, interval=interval, unix_time=unix_time)
ENVIRONMENT.filters["from_json"] = json.loads


def render(
    request: Request, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    guard: Guard = request.app.state.guard

    def url(name: str, **path_params: Any) -> str:
        return request.url_for(name, **path_params).path

    html = ENVIRONMENT.get_template(template).render(
        request=request,
        url=url,
        read_only=guard.read_only,
        signed_in=guard.authenticated(request),
        external_sign_in=guard.external_sign_in,
        csrf_token=guard.csrf_token(request),
        refresh_ms=int(request.app.state.refresh_interval * 1000),
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    guard.remember_nonce(request, response)
    return response
