"""Unit tests of retry strategies and of what they send to SQL."""

from __future__ import annotations

import datetime

import pytest

from procrastinate import exceptions, jobs, retry, utils


class CustomError(ValueError):
    class Inner(Exception):
        pass


def make_job(attempts=0):
    return jobs.Job(
        id=1, queue="q", lock=None, queueing_lock=None, task_name="t", attempts=attempts
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (False, None),
        (0, None),
        (True, retry.RetryStrategy()),
        (3, retry.RetryStrategy(max_attempts=3)),
    ],
)
def test_get_retry_strategy(value, expected):
    assert retry.get_retry_strategy(value) == expected


def test_get_retry_strategy_keeps_a_strategy():
    strategy = retry.RetryStrategy(wait=3)
    assert retry.get_retry_strategy(strategy) is strategy


@pytest.mark.parametrize(("value", "max_attempts"), [(False, None), (True, 0), (5, 5)])
def test_sql_policy_of_retry_values(value, max_attempts):
    policy = retry.sql_retry_policy(retry.get_retry_strategy(value))
    assert policy["max_attempts"] == max_attempts


def test_to_sql_policy():
    strategy = retry.RetryStrategy(
        max_attempts=4,
        wait=1,
        linear_wait=2,
        exponential_wait=3,
        retry_exceptions=[KeyError, CustomError, CustomError.Inner],
    )
    assert strategy.to_sql_policy() == {
        "max_attempts": 4,
        "retry_wait": 1,
        "retry_linear_wait": 2,
        "retry_exponential_wait": 3,
        "retry_exceptions": [
            "KeyError",
            f"{__name__}.CustomError",
            f"{__name__}.CustomError.Inner",
        ],
    }


def test_strategy_overriding_the_decision_does_not_travel_to_sql():
    class Custom(retry.RetryStrategy):
        def get_retry_decision(self, *, exception, job):
            return None

    class Base(retry.BaseRetryStrategy):
        def get_retry_decision(self, *, exception, job):
            return None

    class Plain(retry.RetryStrategy):
        pass

    assert not retry.is_sql_strategy(Custom())
    assert not retry.is_sql_strategy(Base())
    assert not retry.is_sql_strategy(None)
    assert retry.is_sql_strategy(Plain(max_attempts=2))
    assert retry.sql_retry_policy(Custom(max_attempts=3)) == {"max_attempts": None}


def test_exception_type_names_follow_the_mro():
    assert retry.exception_type_names(CustomError()) == [
        f"{__name__}.CustomError",
        "ValueError",
        "Exception",
        "BaseException",
    ]
    assert retry.exception_type_names(KeyError()) == [
        "KeyError",
        "LookupError",
        "Exception",
        "BaseException",
    ]


def test_retry_decision_to_outcome():
    assert retry.retry_decision_to_outcome(None) is False
    at = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    decision = retry.RetryDecision(retry_at=at, priority=3, queue="q", lock="l")
    assert retry.retry_decision_to_outcome(decision) == {
        "at": "2030-01-02T03:04:05+00:00",
        "priority": 3,
        "queue": "q",
        "lock": "l",
    }
    naive = retry.RetryDecision(retry_at=datetime.datetime(2030, 1, 1))
    assert retry.retry_decision_to_outcome(naive)["at"] == "2030-01-01T00:00:00+00:00"
    assert retry.retry_decision_to_outcome(retry.RetryDecision())["at"] is None


def test_retry_decision_retry_in_travels_as_seconds(monkeypatch):
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    monkeypatch.setattr(utils, "utcnow", lambda: now)
    decision = retry.RetryDecision(retry_in={"minutes": 2}, priority=1)
    assert decision.retry_in_seconds == 120
    # retry_at: for code that reads it, from this process's clock.
    assert decision.retry_at == now + datetime.timedelta(minutes=2)
    assert retry.retry_decision_to_outcome(decision) == {
        "in": 120.0, "priority": 1, "queue": None, "lock": None
    }
    with pytest.raises(ValueError):
        retry.RetryDecision(retry_at=decision.retry_at, retry_in={"seconds": 1})
    # The past means now; an overflowing delay, the far future.
    assert retry.RetryDecision(retry_in={"seconds": -5}).retry_in_seconds == 0
    assert retry.RetryDecision(retry_in={"days": 10**9}).retry_in_seconds == 1e10


POLICIES = [(1, 2, 3), (0, 0, 2), (0.5, 0, 0), (0, 10, 0), (2.5, 1.5, 1.7), (1e12, 1e12, 1e6)]


@pytest.mark.parametrize(("wait", "linear_wait", "exponential_wait"), POLICIES)
def test_python_formula_is_the_sql_formula(db, wait, linear_wait, exponential_wait):
    """The one Python copy (for subclasses calling super()) against
    procrastinate_retry_delay_v1 itself, attempts 0 to 40: the same delay to
    the microsecond, capped the same way."""
    rows = db.execute(
        "select a, extract(epoch from procrastinate_retry_delay_v1(a, %s, %s, %s))::float8 as s"
        " from generate_series(0, 40) as a",
        [wait, linear_wait, exponential_wait],
    ).fetchall()
    strategy = retry.RetryStrategy(
        wait=wait, linear_wait=linear_wait, exponential_wait=exponential_wait
    )
    for row in rows:
        decision = strategy.get_retry_decision(exception=ValueError(), job=make_job(row["a"]))
        assert decision.retry_in_seconds == pytest.approx(row["s"], rel=1e-9, abs=1e-6), row


def test_attempt_30_with_exponential_wait_is_capped_and_equal(db):
    sql = db.execute(
        "select extract(epoch from procrastinate_retry_delay_v1(30, 0, 0, 10))::float8 as s"
    ).fetchone()["s"]
    python = retry.retry_delay_seconds(30, 0, 0, 10)
    assert python == pytest.approx(sql, rel=1e-9)
    assert python < 1e10  # e^23 seconds, not 10^31


def test_python_decision_limits():
    strategy = retry.RetryStrategy(max_attempts=2, retry_exceptions=[KeyError])
    assert strategy.get_retry_decision(exception=KeyError(), job=make_job(1))
    assert strategy.get_retry_decision(exception=KeyError(), job=make_job(2)) is None
    assert strategy.get_retry_decision(exception=ValueError(), job=make_job(0)) is None


def test_get_retry_exception_and_deprecated_schedule_in():
    class Old(retry.BaseRetryStrategy):
        def get_schedule_in(self, *, exception, attempts):
            return None if attempts else 5

    with pytest.warns(DeprecationWarning):
        result = Old().get_retry_exception(ValueError(), make_job(0))
    assert isinstance(result, exceptions.JobRetry)
    with pytest.warns(DeprecationWarning):
        assert Old().get_retry_exception(ValueError(), make_job(1)) is None
    with pytest.raises(NotImplementedError):
        retry.BaseRetryStrategy().get_retry_exception(ValueError(), make_job(0))
