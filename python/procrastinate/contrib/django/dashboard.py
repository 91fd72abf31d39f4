"""The web dashboard (procrastinate.dashboard) inside a Django project, behind
Django's own sign-in::

    # urls.py
    from django.urls import include, path
    from procrastinate.contrib.django.dashboard import dashboard_urls

    urlpatterns = [..., path("queue/", include(dashboard_urls()))]

One Django view serves every page of the dashboard: it hands the request to
the dashboard's ASGI application and returns its answer, so the dashboard
runs under ``runserver``, WSGI and ASGI servers alike, on the project's
database connection (the DjangoConnector of ``procrastinate.contrib.django.app``).

Who sees it and who acts is Django's decision: ``may_view(user)`` (default:
an active staff member) or the visitor is sent to the login page
(``settings.LOGIN_URL``), and ``may_act(user)`` (default: an active staff
member with the ``procrastinate.change_procrastinatejob`` permission, so a
superuser) for the actions. ``read_only=True`` offers none. The dashboard's
own CSRF protection (an HMAC, under a key derived from SECRET_KEY, of a
nonce in a cookie of its own) guards its forms; Django's CSRF middleware is
not asked (the view is exempt), as its token is not in the dashboard's forms.
"""

from __future__ import annotations

import hashlib
import hmac
import http.cookies
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

#: Where the view tells the dashboard whether the signed-in user may act.
SCOPE_KEY = "procrastinate.django.may_act"

UserTest = Callable[[Any], bool]


def default_may_view(user: Any) -> bool:
    return bool(user.is_active and user.is_staff)


def default_may_act(user: Any) -> bool:
    return default_may_view(user) and user.has_perm("procrastinate.change_procrastinatejob")


def _guard(read_only: bool) -> Any:
    from procrastinate.dashboard.security import Guard

    class DjangoGuard(Guard):
        """Acts for the users Django allows (the view says so in the scope);
        the key that signs CSRF values is derived from SECRET_KEY."""

        external_sign_in = True

        def authenticated(self, request: Any) -> bool:
            return bool(request.scope.get(SCOPE_KEY))

        def token_matches(self, candidate: str) -> bool:
            return False  # no sign-in with a token: Django signs people in

    secret = hmac.new(
        str(settings.SECRET_KEY).encode(), b"procrastinate dashboard csrf", hashlib.sha256
    ).hexdigest()
    return DjangoGuard(token=secret, read_only=read_only)


def dashboard_urls(
    *,
    read_only: bool = False,
    may_view: UserTest = default_may_view,
    may_act: UserTest = default_may_act,
    refresh_interval: float = 2.0,
) -> tuple[list[Any], str]:
    """URL patterns to ``include()`` at the path the dashboard should have."""
    built: dict[str, Any] = {}

    def asgi_app() -> Any:
        if "app" not in built:
            from procrastinate import dashboard
            from procrastinate.contrib.django import app

            built["app"] = dashboard.app(
                app, guard=_guard(read_only), refresh_interval=refresh_interval
            )
        return built["app"]

    @csrf_exempt
    async def view(request: HttpRequest, path: str) -> HttpResponse:
        user = await request.auser()  # type: ignore[attr-defined]
        # the tests may read the database (permissions): in Django's thread
        if not await sync_to_async(may_view)(user):
            return redirect_to_login(request.get_full_path())
        allowed = not read_only and await sync_to_async(may_act)(user)
        return await _forward(asgi_app(), request, path, allowed)

    return [re_path(r"^(?P<path>.*)$", view, name="dashboard")], "procrastinate_dashboard"


async def _forward(asgi_app: Any, request: HttpRequest, path: str, may_act: bool) -> HttpResponse:
    """Run ``request`` through the ASGI application; its answer as Django's."""
    full_path = request.path
    root_path = full_path[: len(full_path) - len(path)].rstrip("/")
    host = request.get_host()
    server_name, _, port = host.partition(":")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": request.scheme,
        "path": full_path,
        "raw_path": full_path.encode(),
        "root_path": root_path,
        "query_string": request.META.get("QUERY_STRING", "").encode("latin-1"),
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in request.headers.items()
        ],
        "client": (request.META.get("REMOTE_ADDR", ""), 0),
        "server": (server_name, int(port) if port.isdigit() else None),
        SCOPE_KEY: may_act,
    }
    body = request.body
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status = 500
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await asgi_app(scope, receive, send)
    response = HttpResponse(b"".join(chunks), status=status)
    for raw_name, raw_value in headers:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        if name.lower() == "set-cookie":
            # several Set-Cookie headers: Django keeps cookies apart
            response.cookies.load(http.cookies.SimpleCookie(value))  # type: ignore[arg-type]
        else:
            response[name] = value
    return response
