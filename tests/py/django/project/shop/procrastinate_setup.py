"""Called with the App once it is built (PROCRASTINATE_ON_APP_READY)."""

READY_APPS = []


def on_app_ready(app):
    READY_APPS.append(app)
