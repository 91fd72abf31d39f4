"""Django integration: add ``"procrastinate.contrib.django"`` to INSTALLED_APPS.

- ``app``: the procrastinate App of the project (a proxy, usable at import
  time to declare tasks; see procrastinate_app).
- ``DjangoConnector``: runs the driver's SQL on Django's connection, so a job
  deferred inside ``transaction.atomic()`` exists only if it commits.
- ``DjangoApp``: the App class the integration builds (closes Django's
  connections around each task a worker runs).
- ``connector_params(alias)``: connection keyword arguments of a DATABASES
  entry, for building another connector (the worker's).

Django migrations of this app install and upgrade the schema (one Django
migration per file of migrations/pre and migrations/post). ``manage.py
procrastinate ...`` mirrors the ``procrastinate`` command. Settings:
``PROCRASTINATE_*`` (see settings). docs/django.md tells the whole story.

Importing this package needs neither Django nor configured settings: the
names above are loaded on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "app": "procrastinate.contrib.django.procrastinate_app",
    "DjangoConnector": "procrastinate.contrib.django.django_connector",
    "DjangoApp": "procrastinate.contrib.django.db_cleanup",
    "connector_params": "procrastinate.contrib.django.utils",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
