"""Retry strategies: whether and when a failed job runs again.

A plain :class:`RetryStrategy` is data: it travels with each job to the
database (``to_sql_policy``) and the SQL core decides retries when the job
fails. A strategy that overrides ``get_retry_decision`` is code: the worker
calls it and sends the decision it returns (``retry_decision_to_outcome``)
with the job's outcome.
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime
import math
import warnings
from collections.abc import Iterable
from typing import Any

from procrastinate import exceptions, types, utils
from procrastinate.jobs import Job


class RetryDecision:
    """When and how a failed job runs again.

    ``retry_at`` (timezone-aware) or ``retry_in`` (timedelta keyword
    arguments), not both; neither means now. ``priority``, ``queue`` and
    ``lock``, when set, replace the job's own for the next run.
    """

    def __init__(
        self,
        *,
        retry_at: datetime.datetime | None = None,
        retry_in: types.TimeDeltaParams | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        if retry_at and retry_in is not None:
            raise ValueError("Cannot set both retry_at and retry_in")
        #: Seconds from the end of the run: sent as such, and added to the
        #: database's clock (a worker's skewed clock cannot move the retry).
        self.retry_in_seconds: float | None = None
        if retry_in is not None:
            self.retry_in_seconds = utils.seconds_from_timedelta_params(retry_in)
            # Kept for code that reads it (procrastinate 3.x computes it so).
            retry_at = utils.datetime_from_timedelta_params(retry_in)
        self.retry_at = retry_at
        self.priority = priority
        self.queue = queue
        self.lock = lock

    def __repr__(self) -> str:
        return (
            f"RetryDecision(retry_at={self.retry_at!r}, priority={self.priority!r}, "
            f"queue={self.queue!r}, lock={self.lock!r})"
        )


class BaseRetryStrategy:
    """Base of retry strategies: subclasses implement ``get_retry_decision``."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        """The decision for ``job`` that failed with ``exception``; None: do
        not retry. ``job.attempts`` counts the runs before this one."""
        raise NotImplementedError("Missing implementation of 'get_retry_decision'.")

    def get_schedule_in(self, *, exception: BaseException, attempts: int) -> int | None:
        """Deprecated: seconds before the next run, or None. Implement
        ``get_retry_decision`` instead."""
        raise NotImplementedError

    def get_retry_exception(self, exception: BaseException, job: Job) -> exceptions.JobRetry | None:
        """The decision wrapped in JobRetry (or None), falling back on the
        deprecated ``get_schedule_in``."""
        try:
            decision = self.get_retry_decision(exception=exception, job=job)
        except NotImplementedError as error:
            try:
                seconds = self.get_schedule_in(exception=exception, attempts=job.attempts)
            except NotImplementedError:
                raise error from None
            warnings.warn(
                "`get_schedule_in` is deprecated, use `get_retry_decision` instead.",
                DeprecationWarning,
                stacklevel=2,
            )
            if seconds is None:
                return None
            decision = RetryDecision(retry_in={"seconds": seconds})
        return None if decision is None else exceptions.JobRetry(decision)


@dataclasses.dataclass(kw_only=True)
class RetryStrategy(BaseRetryStrategy):
    """The usual retry policy: at most ``max_attempts`` runs (None or 0: no
    limit), waiting ``wait + linear_wait * attempts + exponential_wait **
    (attempts + 1)`` seconds, only for ``retry_exceptions`` (None: any)."""

    max_attempts: int | None = None
    wait: float = 0
    linear_wait: float = 0
    exponential_wait: float = 0
    retry_exceptions: Iterable[type[BaseException]] | None = None

    def to_sql_policy(self) -> dict[str, Any]:
        """The retry keys of a job object (docs/sql-api.md)."""
        return {
            "max_attempts": self.max_attempts or 0,
            "retry_wait": self.wait,
            "retry_linear_wait": self.linear_wait,
            "retry_exponential_wait": self.exponential_wait,
            "retry_exceptions": (
                None
                if self.retry_exceptions is None
                else [exception_class_name(cls) for cls in self.retry_exceptions]
            ),
        }

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        # Only reached by strategies that cannot travel to SQL (subclasses
        # calling super()); the same rule as procrastinate_finish_jobs_v1.
        if self.max_attempts and job.attempts >= self.max_attempts:
            return None
        if self.retry_exceptions is not None and not isinstance(
            exception, tuple(self.retry_exceptions)
        ):
            return None
        wait, linear, exponential = self.wait, self.linear_wait, self.exponential_wait
        return RetryDecision(
            retry_in={"seconds": retry_delay_seconds(job.attempts, wait, linear, exponential)}
        )


#: The caps of procrastinate_retry_delay_v1 (sql/40_finish.sql): each term and
#: the sum at 1e10 s (utils.MAX_RELATIVE_SECONDS, about 300 years), the
#: exponent at e^23.
_MAX_DELAY = utils.MAX_RELATIVE_SECONDS
_MAX_EXPONENT = 23.0


def retry_delay_seconds(
    attempts: int, wait: float, linear_wait: float, exponential_wait: float
) -> float:
    """Seconds before the next run: SQL's procrastinate_retry_delay_v1, for
    strategies that subclass RetryStrategy and call ``super()`` (the only
    Python path to the formula; tests/py/test_retry.py holds the two equal)."""
    exponential = (
        math.exp(min((attempts + 1) * math.log(exponential_wait), _MAX_EXPONENT))
        if exponential_wait
        else 0.0
    )
    return min(
        min(wait, _MAX_DELAY) + min(linear_wait, _MAX_DELAY) * attempts + exponential,
        _MAX_DELAY,
    )


RetryValue = bool | int | BaseRetryStrategy


def get_retry_strategy(retry: RetryValue) -> BaseRetryStrategy | None:
    """The strategy meant by a task's ``retry=``: False: none; True: retry
    without limit; N: at most N attempts; a strategy: itself."""
    if not retry:
        return None
    if retry is True:
        return RetryStrategy()
    if isinstance(retry, int):
        return RetryStrategy(max_attempts=retry)
    return retry


def is_sql_strategy(strategy: BaseRetryStrategy | None) -> bool:
    """Whether the database can apply this strategy on its own: a
    RetryStrategy whose decision logic is not overridden."""
    return (
        isinstance(strategy, RetryStrategy)
        and type(strategy).get_retry_decision is RetryStrategy.get_retry_decision
        and type(strategy).get_schedule_in is BaseRetryStrategy.get_schedule_in
    )


def sql_retry_policy(strategy: BaseRetryStrategy | None) -> dict[str, Any]:
    """The retry keys to store with a job of a task having this strategy
    (``max_attempts`` None: the database never retries, the worker decides)."""
    if is_sql_strategy(strategy):
        return strategy.to_sql_policy()  # type: ignore[union-attr]
    return {"max_attempts": None}


def exception_class_name(cls: type[BaseException]) -> str:
    """``ValueError`` for builtins, ``module.QualName`` otherwise."""
    if cls.__module__ == builtins.__name__:
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def exception_type_names(exception: BaseException) -> list[str]:
    """Names of the exception's class and of its bases (along the MRO), in
    the naming of ``retry_exceptions``: what a failure outcome reports."""
    mro = type(exception).__mro__
    return [exception_class_name(cls) for cls in mro if issubclass(cls, BaseException)]


def retry_decision_to_outcome(decision: RetryDecision | None) -> dict[str, Any] | bool:
    """The ``retry`` member of a failure outcome for an explicit decision:
    False for None (do not retry), else ``{"in" or "at", "priority", "queue",
    "lock"}``: ``in`` seconds for a ``retry_in`` (added to the database's
    clock), else ``at`` (None: now; a naive retry_at is taken as UTC)."""
    if decision is None:
        return False
    outcome = {"priority": decision.priority, "queue": decision.queue, "lock": decision.lock}
    if decision.retry_in_seconds is not None:
        return {**outcome, "in": decision.retry_in_seconds}
    at = decision.retry_at
    if at is not None and at.utcoffset() is None:
        at = at.replace(tzinfo=datetime.timezone.utc)
    return {**outcome, "at": at.isoformat() if at is not None else None}
