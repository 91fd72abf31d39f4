"""Exceptions raised by procrastinate.

The names of procrastinate 3.x are kept. Errors that the SQL core raises on
purpose carry their own SQLSTATE (class ``PT``, see docs/sql-api.md);
:func:`from_database_error` is the one place where a driver error becomes one
of ours, by SQLSTATE and constraint name, never by message text (only
``UniqueViolation.queueing_lock`` is read from the message our SQL writes).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from procrastinate.retry import RetryDecision

# The unique index that keeps one waiting job per queueing lock (sql/10_tables.sql).
QUEUEING_LOCK_INDEX = "procrastinate_jobs_queueing_lock_idx_v1"


class ProcrastinateException(Exception):
    """Unexpected procrastinate error."""

    def __init__(self, message: str | None = None):
        super().__init__(message or " ".join((self.__doc__ or "").split()))


class TaskNotFound(ProcrastinateException):
    """No task is registered under this name."""


class UnboundTaskError(ProcrastinateException):
    """The task belongs to a Blueprint that was not added to an App
    (App.add_tasks_from) before the task was deferred."""


class TaskAlreadyRegistered(ProcrastinateException):
    """A task with this name was already registered."""


class MiddlewareKindMismatch(ProcrastinateException):
    """A sync task was given an async middleware, or an async task a sync one."""


class LoadFromPathError(ProcrastinateException, ImportError):
    """Nothing suitable was found at the given dotted path."""


class JobRetry(ProcrastinateException):
    """The job should be retried (carries the retry decision)."""

    def __init__(self, retry_decision: RetryDecision):
        self.retry_decision = retry_decision
        super().__init__()


class JobAborted(ProcrastinateException):
    """The job was aborted."""


class JobTimeout(ProcrastinateException):
    """The job ran past its deadline: its timeout (``@app.task(timeout=...)``
    or ``configure(timeout=...)``, seconds from its claim) ran out. The
    worker cancels an async job, or raises this exception in the thread of a
    sync job, and reports the run as failed with this type (retried by the
    job's policy; docs/flow-control.md)."""


class AppNotOpen(ProcrastinateException):
    """The app is not open: call app.open() / await app.open_async(), or use
    ``with app.open():`` / ``async with app.open_async():``."""


class ConnectorException(ProcrastinateException):
    """Database error (the driver's error is in ``__cause__``)."""

    sqlstate: str | None = None


class AlreadyEnqueued(ProcrastinateException):
    """A job with the same queueing lock is already waiting in the queue."""

    sqlstate: str | None = None


class UniqueViolation(ConnectorException):
    """A unique constraint is violated (see ``constraint_name``)."""

    def __init__(
        self,
        *args: Any,
        constraint_name: str | None = None,
        queueing_lock: str | None = None,
    ):
        super().__init__(*args)
        self.constraint_name = constraint_name
        self.queueing_lock = queueing_lock


class NoResult(ConnectorException):
    """The query returned no row."""


class MissingApp(ProcrastinateException):
    """No app given: use --app or the PROCRASTINATE_APP environment variable."""


class SyncConnectorConfigurationError(ProcrastinateException):
    """This operation needs an asynchronous connector, and the app has a
    synchronous one."""


class SyncCallInEventLoop(ProcrastinateException, RuntimeError):
    """A synchronous API was called from inside the event loop that runs the
    connector: it would block that loop. Await the ``_async`` form instead."""


class CallerModuleUnknown(ProcrastinateException):
    """The module of the caller could not be determined."""


class RunTaskError(ProcrastinateException):
    """One of the given coroutines ended with an exception."""


class InvalidTimestamp(ProcrastinateException):
    """A periodic job's timestamp argument does not match its defer timestamp."""


class FunctionPathError(ProcrastinateException):
    """No unique name could be derived for this function: pass ``name=``."""


class MovedElsewhere(ProcrastinateException):
    """This object has moved elsewhere."""


# --- Errors raised on purpose by the SQL core, one per SQLSTATE ---------------


class InvalidJobDefinition(ProcrastinateException, ValueError):
    """The job definition is invalid (SQLSTATE PT001)."""

    sqlstate: str | None = "PT001"


class UnserializableArguments(InvalidJobDefinition, TypeError):
    """The job's arguments cannot be serialised to JSON (nothing was written)."""

    sqlstate: str | None = None


class UndecodableArguments(ProcrastinateException):
    """A fetched job's arguments cannot be decoded (the connector's
    ``json_loads`` failed, or they are not a JSON object): that job fails,
    without retry; the other jobs of the fetch run."""


class DatabaseConfigurationError(ConnectorException):
    """The database refused the connection for a reason that waiting will
    not fix (authentication, unknown database or role, SSL settings): the
    message is PostgreSQL's (or libpq's)."""


class InvalidPeriodicTask(ProcrastinateException, ValueError):
    """A periodic task's cron expression is invalid or never fires."""


class JobNotFound(ProcrastinateException, LookupError):
    """No job has this id (SQLSTATE PT003)."""

    sqlstate: str | None = "PT003"


class InvalidJobStatus(ProcrastinateException):
    """The job's status does not allow this operation (SQLSTATE PT004)."""

    sqlstate: str | None = "PT004"


class InvalidOutcome(ProcrastinateException, ValueError):
    """A job outcome reported to the database is malformed (SQLSTATE PT005)."""

    sqlstate: str | None = "PT005"


class LimitNotFound(ProcrastinateException, LookupError):
    """There is no limit on this queue, task or key (SQLSTATE PT006)."""

    sqlstate: str | None = "PT006"


class JobFailed(ProcrastinateException):
    """The job waited for failed (JobManager.wait_for_job): the task's
    exception, as the database recorded it. ``error_type`` is its class name
    (``error_types`` with its bases), ``message`` what it said,
    ``error_traceback`` where it was raised (in the worker)."""

    def __init__(
        self,
        job_id: int,
        message: str | None,
        error_types: list[str] | None,
        error_traceback: str | None,
    ):
        self.job_id = job_id
        self.message = message or ""
        self.error_types = list(error_types or [])
        self.error_type = self.error_types[0] if self.error_types else None
        self.error_traceback = error_traceback
        super().__init__(f"Job {job_id} failed: {self.message or self.error_type or 'no error'}")


class JobCancelled(ProcrastinateException):
    """The job waited for was cancelled before it ran, or aborted while it
    ran (``status`` says which)."""

    def __init__(self, job_id: int, status: str):
        self.job_id = job_id
        self.status = status
        super().__init__(f"Job {job_id} ended {status}")


class ResultNotStored(ProcrastinateException):
    """The job succeeded, but what it returned is not stored: it was not
    deferred with store_result, or the database says why (too big, not
    JSON)."""


class WaitTimeout(ProcrastinateException, TimeoutError):
    """The job waited for did not end within the timeout (it goes on)."""


class SchemaNotInstalled(ConnectorException):
    """The procrastinate schema is not installed in this database: run
    ``procrastinate schema --apply`` or ``await connector.check()``."""


class SchemaVersionMismatch(ConnectorException):
    """This code must not run on the database (procrastinate._db.version): no
    schema, a schema lacking pre migrations this code ships, or procrastinate
    3.x's schema not converted yet. The message says what to run."""


SQLSTATE_EXCEPTIONS: dict[str, type[ProcrastinateException]] = {
    "PT001": InvalidJobDefinition,
    "PT002": AlreadyEnqueued,
    "PT003": JobNotFound,
    "PT004": InvalidJobStatus,
    "PT005": InvalidOutcome,
    "PT006": LimitNotFound,
}

# SQLSTATEs meaning "a table or function we call is missing".
SCHEMA_MISSING_SQLSTATES = frozenset({"42P01", "42883", "42704"})


def from_database_error(error: BaseException) -> ProcrastinateException:
    """Turn a driver error (psycopg 3, psycopg2, aiopg) into our exception.

    Chooses by SQLSTATE (``sqlstate`` on psycopg 3, ``pgcode`` on psycopg2)
    and, for unique violations, by constraint name. The caller raises the
    result ``from error``.
    """
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    diag = getattr(error, "diag", None)
    message = (getattr(diag, "message_primary", None) or str(error)).strip()
    exception: ProcrastinateException
    constraint = getattr(diag, "constraint_name", None)
    if sqlstate == "PT002" or (sqlstate == "23505" and constraint == QUEUEING_LOCK_INDEX):
        exception = _already_enqueued(error, message)
    elif sqlstate in SQLSTATE_EXCEPTIONS:
        exception = SQLSTATE_EXCEPTIONS[sqlstate](message)
    elif sqlstate == "23505":
        exception = UniqueViolation(message, constraint_name=constraint)
    else:
        exception = ConnectorException(message or type(error).__name__)
    exception.sqlstate = sqlstate  # type: ignore[attr-defined]
    return exception


# How sql/20_defer.sql (and 21_debounce_throttle.sql) names the queueing
# lock it refuses.
_TAKEN_LOCK = re.compile(
    r'queueing lock "(.*)" is '
    r"(?:already taken by a waiting job|used by several jobs of this batch"
    r"|taken by a waiting job of another task or login, or held for its parents)",
    re.DOTALL,
)


def _already_enqueued(error: BaseException, message: str) -> AlreadyEnqueued:
    """AlreadyEnqueued caused by a UniqueViolation naming the queueing lock,
    itself caused by the driver's error: procrastinate 3.x's chain."""
    taken = _TAKEN_LOCK.fullmatch(message)
    unique = UniqueViolation(
        message,
        constraint_name=QUEUEING_LOCK_INDEX,
        queueing_lock=taken.group(1) if taken else None,
    )
    unique.__cause__ = error
    exception = AlreadyEnqueued(message)
    exception.__cause__ = unique
    return exception


def raise_database_error(error: BaseException, carrier: BaseException | None = None) -> NoReturn:
    """Raise a driver's ``error`` as ours (from_database_error), from the
    cause that one names (AlreadyEnqueued: its UniqueViolation), else from
    ``carrier`` (an error wrapping ``error``, as Django's) or ``error``."""
    exception = from_database_error(error)
    raise exception from exception.__cause__ or carrier or error
