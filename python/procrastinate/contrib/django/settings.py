"""The ``PROCRASTINATE_*`` Django settings, with their defaults.

``settings.X`` reads ``django.conf.settings.PROCRASTINATE_X`` when it is set,
else the default below.
"""

from __future__ import annotations

from typing import Any

_DEFAULTS: dict[str, Any] = {
    # Module imported from every installed app to find tasks ("" to disable).
    "AUTODISCOVER_MODULE_NAME": "tasks",
    # More modules to import so that workers know every task.
    "IMPORT_PATHS": [],
    # The DATABASES entry procrastinate uses (deferring and the worker's pool).
    "DATABASE_ALIAS": "default",
    # App(worker_defaults=...): default options of `manage.py procrastinate worker`.
    "WORKER_DEFAULTS": None,
    # App(periodic_defaults=...).
    "PERIODIC_DEFAULTS": None,
    # Dotted path of a callable receiving the App once it is built.
    "ON_APP_READY": None,
    # The models refuse save/delete/update (change jobs through the job manager).
    "READONLY_MODELS": True,
}


class Settings:
    def __getattr__(self, name: str) -> Any:
        if name not in _DEFAULTS:
            raise AttributeError(f"unknown procrastinate setting {name!r}")
        from django.conf import settings as django_settings

        return getattr(django_settings, f"PROCRASTINATE_{name}", _DEFAULTS[name])


settings = Settings()
