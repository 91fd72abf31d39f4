"""``manage.py procrastinate ...``: the ``procrastinate`` command, with the
project's app (no ``--app``) and Django's settings.

Subcommands and options are those of the ``procrastinate`` command (worker,
defer, schema, healthchecks, shell). They run with a PsycopgConnector built
from the DATABASES entry of PROCRASTINATE_DATABASE_ALIAS: a pool, and LISTEN
for the worker. ``healthchecks`` also checks Django's side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from typing import Any

from django.core.management.base import BaseCommand

from procrastinate import cli
from procrastinate.contrib.django import django_connector, healthchecks, procrastinate_app


class Command(BaseCommand):
    help = "Run procrastinate commands (worker, defer, schema, healthchecks, shell)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        self._django_options = {action.dest for action in parser._actions}
        cli.add_arguments(
            parser,
            include_app=False,
            include_schema=True,
            custom_healthchecks=healthchecks.healthchecks,
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options.get("verbosity", 1)
        if not logging.getLogger().handlers and not logging.getLogger("procrastinate").handlers:
            # No LOGGING configured for us: log like the procrastinate command.
            cli.configure_logging(verbosity=max(verbosity - 1, 0))
        parsed = {key: value for key, value in options.items() if key not in self._django_options}
        app = procrastinate_app.current_app
        parsed["app"] = app
        context: Any = contextlib.nullcontext()
        if isinstance(app.connector, django_connector.DjangoConnector):
            context = app.replace_connector(app.connector.get_worker_connector())
        with context:
            asyncio.run(cli.execute_command(parsed))
