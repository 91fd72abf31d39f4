"""The Django app: builds the procrastinate App when Django is ready."""

from __future__ import annotations

from django import apps
from procrastinate import app as app_module


class ProcrastinateConfig(apps.AppConfig):
    name = "procrastinate.contrib.django"
    label = "procrastinate"
    verbose_name = "Procrastinate"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules, import_string

        from . import checks, procrastinate_app  # noqa: F401 - checks registers itself
        from .settings import settings

        procrastinate_app.set_app(create_app())
        if settings.AUTODISCOVER_MODULE_NAME:  # the tasks modules of every app
            autodiscover_modules(settings.AUTODISCOVER_MODULE_NAME)
        if settings.ON_APP_READY:
            import_string(settings.ON_APP_READY)(procrastinate_app.current_app)

    @property
    def app(self) -> app_module.App:
        """The procrastinate App of the project."""
        from . import procrastinate_app

        return procrastinate_app.current_app


def create_app() -> app_module.App:
    """The DjangoApp described by the PROCRASTINATE_* settings, on a
    DjangoConnector."""
    from .db_cleanup import DjangoApp
    from .django_connector import DjangoConnector
    from .settings import settings

    return DjangoApp(
        connector=DjangoConnector(alias=settings.DATABASE_ALIAS),
        import_paths=list(settings.IMPORT_PATHS),
        worker_defaults=settings.WORKER_DEFAULTS,
        periodic_defaults=settings.PERIODIC_DEFAULTS,
    )
