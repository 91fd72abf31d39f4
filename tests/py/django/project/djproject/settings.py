"""A small Django project using procrastinate.contrib.django, for the tests.

The database is DJANGO_DATABASE_NAME on the PostgreSQL server that libpq's
environment names (PGHOST, PGPORT, PGUSER, PGPASSWORD).
"""

import os

SECRET_KEY = "only-for-tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "procrastinate.contrib.django",
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "djproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("DJANGO_DATABASE_NAME", "procrastinate_django"),
        # Empty: libpq's environment (PGHOST, PGPORT, PGUSER, PGPASSWORD).
        "HOST": "",
        "PORT": "",
        "USER": "",
        "PASSWORD": "",
    }
}

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# procrastinate (see docs/django.md)
PROCRASTINATE_WORKER_DEFAULTS = {"fetch_job_polling_interval": 0.5}
PROCRASTINATE_ON_APP_READY = "shop.procrastinate_setup.on_app_ready"
