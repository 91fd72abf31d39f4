"""Who may act on the queue from the dashboard, and proof that a form was
sent from the dashboard's own page.

Read-only unless a token is configured. An action (always a POST) needs:
- the credential: the token itself in ``Authorization: Bearer <token>``, or
  the login cookie the login form sets (an HMAC of the token, so that the
  cookie is worth nothing once the token changes, and the token is never
  stored in the browser);
- a CSRF token: a random nonce kept in a cookie of its own, and in the form
  (field ``csrf_token``) or header (``X-CSRF-Token``) its HMAC under the
  token. Another site can make the browser send the cookies, but cannot
  read the page that holds the matching value, nor compute it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

LOGIN_COOKIE = "procrastinate_dashboard_login"
CSRF_COOKIE = "procrastinate_dashboard_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class Guard:
    #: True when the host application signs people in (Django's auth, see
    #: procrastinate.contrib.django.dashboard): the dashboard's own sign-in
    #: form and cookie are not used.
    external_sign_in = False

    def __init__(self, token: str | None, read_only: bool | None):
        if read_only is None:
            read_only = token is None
        if not read_only and not token:
            raise ValueError("actions need a credential: give a token, or read_only=True")
        self.token = token
        self.read_only = read_only

    def _sign(self, message: str) -> str:
        assert self.token is not None
        return hmac.new(self.token.encode(), message.encode(), hashlib.sha256).hexdigest()

    def login_cookie(self) -> str:
        return self._sign("login")

    def token_matches(self, candidate: str) -> bool:
        return self.token is not None and hmac.compare_digest(
            candidate.encode(), self.token.encode()
        )

    def authenticated(self, request: Request) -> bool:
        if self.token is None:
            return False
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.token_matches(credential.strip()):
            return True
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie, self.login_cookie())

    def csrf_nonce(self, request: Request) -> str:
        """The browser's nonce; a new one (set by ``remember_nonce``) if it has none."""
        nonce = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf_nonce", None)
        if not nonce:
            nonce = request.state.csrf_nonce = secrets.token_urlsafe(32)
        return nonce

    def csrf_token(self, request: Request) -> str:
        # Without a token there is no action to protect, and nothing to sign with.
        return self._sign("csrf:" + self.csrf_nonce(request)) if self.token else ""

    def csrf_ok(self, request: Request, form: Mapping[str, object]) -> bool:
        nonce = request.cookies.get(CSRF_COOKIE)
        sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
        if not (self.token and nonce and isinstance(sent, str)):
            return False
        return hmac.compare_digest(sent, self._sign("csrf:" + nonce))

    def remember_nonce(self, request: Request, response: Response) -> None:
        """Set the nonce cookie when this request made the nonce."""
        nonce = getattr(request.state, "csrf_nonce", None)
        if nonce and not request.cookies.get(CSRF_COOKIE):
            set_cookie(request, response, CSRF_COOKIE, nonce)


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    # Strict: never sent on a request another site starts; HttpOnly: no
    # script reads it; scoped to where the dashboard is mounted.
    response.set_cookie(
        name, value, httponly=True, samesite="strict", path=cookie_path(request),
        secure=request.url.scheme == "https",
    )


def cookie_path(request: Request) -> str:
    return (request.scope.get("root_path") or "").rstrip("/") + "/"
