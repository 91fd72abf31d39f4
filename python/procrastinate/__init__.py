"""procrastinate, SQL-core edition: a PostgreSQL task queue whose logic lives
in PL/pgSQL, driven from Python with procrastinate 3.x's API."""

from __future__ import annotations

from procrastinate import _identity
from procrastinate.app import App
from procrastinate.blueprints import Blueprint
from procrastinate.connector import BaseConnector
from procrastinate.job_context import JobContext
from procrastinate.psycopg_connector import PsycopgConnector
from procrastinate.retry import BaseRetryStrategy, RetryDecision, RetryStrategy
from procrastinate.sync_psycopg_connector import SyncPsycopgConnector
from procrastinate.tasks import RateLimit
from procrastinate.transaction import defer_in_transaction, defer_in_transaction_async
from procrastinate.utils import MovedElsewhere as _MovedElsewhere

AiopgConnector = _MovedElsewhere(
    name="AiopgConnector", new_location="procrastinate.contrib.aiopg.AiopgConnector"
)
Psycopg2Connector = _MovedElsewhere(
    name="Psycopg2Connector",
    new_location="procrastinate.contrib.psycopg2.Psycopg2Connector",
)

__version__ = _identity.version()
#: procrastinate's release whose public API this edition implements.
API_LEVEL = _identity.API_LEVEL

__all__ = [
    "App",
    "BaseConnector",
    "BaseRetryStrategy",
    "Blueprint",
    "JobContext",
    "PsycopgConnector",
    "RateLimit",
    "RetryDecision",
    "RetryStrategy",
    "SyncPsycopgConnector",
    "defer_in_transaction",
    "defer_in_transaction_async",
]
