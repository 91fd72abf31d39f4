"""Unit tests of the exception mapping (SQLSTATE -> exception), plus the real
errors of the SQL core."""

from __future__ import annotations

import types

import pytest

from procrastinate import exceptions


def fake_error(sqlstate, message="boom", constraint=None, attribute="sqlstate"):
    diag = types.SimpleNamespace(message_primary=message, constraint_name=constraint)
    error = Exception(message)
    setattr(error, attribute, sqlstate)
    error.diag = diag
    return error


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("PT001", exceptions.InvalidJobDefinition),
        ("PT002", exceptions.AlreadyEnqueued),
        ("PT003", exceptions.JobNotFound),
        ("PT004", exceptions.InvalidJobStatus),
        ("PT005", exceptions.InvalidOutcome),
        ("XX000", exceptions.ConnectorException),
        (None, exceptions.ConnectorException),
    ],
)
def test_from_database_error_maps_sqlstate(sqlstate, expected):
    result = exceptions.from_database_error(fake_error(sqlstate, "some message"))
    assert type(result) is expected
    assert str(result) == "some message"
    assert result.sqlstate == sqlstate


def test_from_database_error_reads_psycopg2_pgcode():
    error = fake_error("PT003", attribute="pgcode")
    assert isinstance(exceptions.from_database_error(error), exceptions.JobNotFound)


def test_from_database_error_never_reads_the_message():
    error = fake_error("XX000", message="queueing lock already taken PT002")
    assert type(exceptions.from_database_error(error)) is exceptions.ConnectorException


def test_unique_violation_of_queueing_lock_index_is_already_enqueued():
    error = fake_error("23505", constraint=exceptions.QUEUEING_LOCK_INDEX)
    assert isinstance(exceptions.from_database_error(error), exceptions.AlreadyEnqueued)


def test_other_unique_violation_keeps_constraint_name():
    result = exceptions.from_database_error(fake_error("23505", constraint="other"))
    assert isinstance(result, exceptions.UniqueViolation)
    assert isinstance(result, exceptions.ConnectorException)
    assert result.constraint_name == "other"


def test_exception_kinds():
    assert issubclass(exceptions.InvalidJobDefinition, ValueError)
    assert issubclass(exceptions.UnserializableArguments, TypeError)
    assert issubclass(
        exceptions.UnserializableArguments, exceptions.InvalidJobDefinition
    )
    assert issubclass(exceptions.LoadFromPathError, ImportError)
    assert issubclass(exceptions.SchemaNotInstalled, exceptions.ConnectorException)
    for name in (
        "ProcrastinateException",
        "AlreadyEnqueued",
        "AppNotOpen",
        "ConnectorException",
        "JobAborted",
        "TaskNotFound",
        "TaskAlreadyRegistered",
        "LoadFromPathError",
        "UniqueViolation",
        "UnboundTaskError",
        "JobRetry",
        "NoResult",
        "MissingApp",
        "SyncConnectorConfigurationError",
        "CallerModuleUnknown",
        "RunTaskError",
        "InvalidTimestamp",
        "FunctionPathError",
        "MovedElsewhere",
        "MiddlewareKindMismatch",
    ):
        assert issubclass(getattr(exceptions, name), exceptions.ProcrastinateException)


def test_default_message_is_the_docstring_on_one_line():
    message = str(exceptions.AppNotOpen())
    assert message.startswith("The app is not open")
    assert "\n" not in message


async def test_sql_errors_become_our_exceptions(app):
    with pytest.raises(exceptions.JobNotFound):
        await app.job_manager.get_job_status_async(12345)
    with pytest.raises(exceptions.InvalidJobDefinition):
        await app.configure_task("").defer_async()
    with pytest.raises(exceptions.InvalidJobStatus):
        await app.job_manager.retry_job_by_id_async(
            (await app.configure_task("t").defer_async()).id
        )
