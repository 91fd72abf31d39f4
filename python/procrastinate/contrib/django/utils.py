"""Connection parameters of a Django DATABASES entry, for other connectors."""

from __future__ import annotations

from typing import Any

# Keys Django adds for its own cursors and adapters: not for another pool.
_DJANGO_ONLY = ("cursor_factory", "context")


def connector_params(alias: str = "default") -> dict[str, Any]:
    """Keyword arguments of psycopg's ``connect()`` for the DATABASES entry
    ``alias``: ``PsycopgConnector(kwargs=connector_params())`` (what
    ``manage.py procrastinate`` builds) or ``AiopgConnector(**...)``."""
    from django.db import connections

    params = dict(connections[alias].get_connection_params())
    for key in _DJANGO_ONLY:
        params.pop(key, None)
    return params
