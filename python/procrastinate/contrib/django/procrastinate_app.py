"""``procrastinate.contrib.django.app``: the project's App, usable at import time.

Modules declaring tasks (``@app.task``) may be imported before Django's app
registry is ready, when the real App does not exist yet. Until then ``app``
stands for a Blueprint that records the tasks (and periodic registrations);
ProcrastinateConfig.ready() builds the App and moves them to it. Anything
else used too early (defer, open, job_manager, ...) raises DjangoNotReady.
"""

from __future__ import annotations

from typing import Any, cast

from procrastinate import app as app_module
from procrastinate import blueprints

from . import exceptions

_NOT_READY = (
    "procrastinate.contrib.django.app.{name} was used before the "
    "'procrastinate.contrib.django' Django app was ready. At import time, only "
    "declare tasks (@app.task, @app.periodic); do the rest in views, commands or "
    "an AppConfig.ready() method of an app listed after "
    "'procrastinate.contrib.django' in INSTALLED_APPS (or in the callable named "
    "by the PROCRASTINATE_ON_APP_READY setting)."
)


class PendingApp(blueprints.Blueprint):
    """What ``app`` is before Django is ready: a Blueprint collecting tasks."""

    def will_configure_task(self) -> None:
        raise exceptions.DjangoNotReady(_NOT_READY.format(name="defer"))

    def __getattr__(self, name: str) -> Any:
        # Only called for what a Blueprint lacks: the App's own attributes.
        if name.startswith("__"):
            raise AttributeError(name)
        raise exceptions.DjangoNotReady(_NOT_READY.format(name=name))


class AppProxy:
    """Forwards everything to the current app (pending, then real)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(current_app, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(current_app, name, value)

    def __repr__(self) -> str:
        return f"<procrastinate.contrib.django.app: {current_app!r}>"


#: The pending blueprint until ProcrastinateConfig.ready(), then the App.
current_app: Any = PendingApp()

#: The project's App (see the module docstring).
app: app_module.App = cast(app_module.App, AppProxy())


def is_ready() -> bool:
    return isinstance(current_app, app_module.App)


def set_app(new_app: app_module.App) -> None:
    """Make ``new_app`` the current app, moving to it the tasks declared so far."""
    global current_app
    pending = current_app
    if isinstance(pending, PendingApp) and pending.tasks:
        new_app.add_tasks_from(pending, namespace="")
    current_app = new_app
