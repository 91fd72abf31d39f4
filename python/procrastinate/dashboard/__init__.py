"""A web dashboard onto the queue (issue 19): ``procrastinate dashboard``,
or ``procrastinate.dashboard.app(app)`` mounted in a FastAPI or Starlette
application. Needs the ``dashboard`` extra (Starlette, Jinja2, uvicorn).
See docs/dashboard.md."""

from __future__ import annotations

from procrastinate.dashboard.asgi import app

__all__ = ["app"]
