"""Django system checks of the PROCRASTINATE_* settings (``manage.py check``,
and before ``migrate``, ``runserver`` and the other commands): a misspelt
setting or worker option, or a database procrastinate cannot use, is named
at start-up instead of failing later or being silently ignored."""

from __future__ import annotations

import difflib
from typing import Any

from django.core import checks

from procrastinate import app as app_module

from . import settings as settings_module

_WORKER_OPTIONS = set(app_module.WorkerOptions.__annotations__)


def _hint(name: str, known: set[str]) -> str | None:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"Did you mean {close[0]}?" if close else None


@checks.register(checks.Tags.database, checks.Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from django.conf import settings as django_settings

    found: list[checks.CheckMessage] = []
    known = {f"PROCRASTINATE_{name}" for name in settings_module._DEFAULTS}
    for name in dir(django_settings):
        if name.startswith("PROCRASTINATE_") and name not in known:
            found.append(checks.Warning(
                f"{name} is not a procrastinate setting: it is ignored",
                hint=_hint(name, known), obj=name, id="procrastinate.W001",
            ))

    alias = settings_module.settings.DATABASE_ALIAS
    database = django_settings.DATABASES.get(alias)
    if database is None:
        found.append(checks.Error(
            f"PROCRASTINATE_DATABASE_ALIAS is {alias!r}, which DATABASES does not have",
            hint=_hint(alias, set(django_settings.DATABASES)),
            obj="PROCRASTINATE_DATABASE_ALIAS", id="procrastinate.E001",
        ))
    elif "postgresql" not in database.get("ENGINE", ""):
        found.append(checks.Error(
            f"procrastinate needs PostgreSQL; the database {alias!r} uses "
            f"{database.get('ENGINE')!r}",
            hint="Point PROCRASTINATE_DATABASE_ALIAS at a PostgreSQL entry of DATABASES",
            obj="PROCRASTINATE_DATABASE_ALIAS", id="procrastinate.E002",
        ))

    for option in sorted(set(settings_module.settings.WORKER_DEFAULTS or {}) - _WORKER_OPTIONS):
        found.append(checks.Error(
            f"PROCRASTINATE_WORKER_DEFAULTS has {option!r}, which is not a worker option",
            hint=_hint(option, _WORKER_OPTIONS),
            obj="PROCRASTINATE_WORKER_DEFAULTS", id="procrastinate.E003",
        ))
    return found
