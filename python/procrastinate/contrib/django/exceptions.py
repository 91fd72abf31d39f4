"""Errors of the Django integration."""

from __future__ import annotations

from procrastinate import exceptions


class ReadOnlyModel(exceptions.ProcrastinateException):
    """The procrastinate models are views of the queue: change jobs through
    the job manager (SQL functions), not the ORM."""


class DjangoNotReady(exceptions.ProcrastinateException):
    """The procrastinate app was used before Django's app registry was ready."""
