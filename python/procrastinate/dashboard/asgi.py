"""The dashboard as one ASGI application (Starlette), to serve alone
(``procrastinate dashboard``) or mount in a FastAPI or Starlette app."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import procrastinate
from procrastinate.dashboard import actions, pages
from procrastinate.dashboard.activity import Activity
from procrastinate.dashboard.metrics import metrics
from procrastinate.dashboard.rendering import HERE
from procrastinate.dashboard.security import Guard

# Defence in depth behind autoescape: no inline script or style, nothing
# from elsewhere, no framing (clickjacking an action button), no referrer
# carrying job ids or filters to other sites.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; "
     b"img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
     b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def app(
    app: procrastinate.App,
    *,
    token: str | None = None,
    read_only: bool | None = None,
    refresh_interval: float = 2.0,
    guard: Guard | None = None,
) -> Starlette:
    """The dashboard of ``app``, whose connector must be async and open
    while the dashboard serves (the caller opens it: a mounted application
    gets no lifespan events of its own).

    ``token``: the credential that actions need. ``read_only`` defaults to
    true without a token; false without a token is refused (ValueError).
    ``refresh_interval``: seconds between refreshes of the overview's counts.
    ``guard``: who may act, instead of ``token`` and ``read_only`` (the
    Django integration passes one that asks Django's auth).
    """
    post: dict[str, Any] = {"methods": ["POST"]}
    routes = [
        Route("/", pages.overview, name="overview"),
        Route("/overview/queues", pages.overview_queues, name="overview_queues"),
        Route("/overview/throughput", pages.throughput, name="overview_throughput"),
        Route("/jobs", pages.jobs, name="jobs"),
        Route("/jobs/{job_id:int}", pages.job, name="job"),
        Route("/jobs/{job_id:int}/retry", actions.action(actions.retry_job), name="retry_job",
              **post),
        Route("/jobs/{job_id:int}/cancel", actions.action(actions.cancel_job),
              name="cancel_job", **post),
        Route("/jobs/{job_id:int}/abort", actions.action(actions.abort_job), name="abort_job",
              **post),
        Route("/failures", pages.failures, name="failures"),
        Route("/failures/retry", actions.action(actions.retry_failure_group),
              name="retry_failure_group", **post),
        Route("/workers", pages.workers, name="workers"),
        Route("/locks", pages.locks, name="locks"),
        Route("/periodic", pages.periodic, name="periodic"),
        Route("/queues", pages.queues, name="queues"),
        Route("/queues/pause", actions.action(actions.pause_queue), name="pause_queue", **post),
        Route("/queues/resume", actions.action(actions.resume_queue), name="resume_queue",
              **post),
        Route("/login", pages.login_form, name="login_form"),
        Route("/login", actions.login, name="login", **post),
        Route("/logout", actions.logout_endpoint, name="logout", **post),
        Route("/metrics", metrics, name="metrics"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    dashboard = Starlette(routes=routes)
    dashboard.state.procrastinate_app = app
    dashboard.state.guard = guard or Guard(token=token, read_only=read_only)
    dashboard.state.refresh_interval = refresh_interval
    dashboard.state.activity = Activity()
    dashboard.add_middleware(SecurityHeaders)
    return dashboard
