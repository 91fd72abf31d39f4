"""Tasks: functions declared with ``@app.task``, and deferring them."""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypedDict, TypeVar

from procrastinate import exceptions, jobs, types, utils
from procrastinate import middleware as middleware_module
from procrastinate import retry as retry_module

if TYPE_CHECKING:
    from procrastinate import blueprints, manager

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
#: What ``defer`` takes: the function's parameters but the JobContext of a
#: ``pass_context`` task (App.task types it).
Args = ParamSpec("Args")


class ConfigureTaskOptions(TypedDict, total=False):
    lock: str | None
    queueing_lock: str | None
    task_kwargs: types.JSONDict | None
    schedule_at: datetime.datetime | None
    schedule_in: types.TimeDeltaParams | None
    queue: str | None
    priority: int | None
    connection: Any
    store_result: bool | None
    after: Iterable[int] | None
    after_policy: str | None
    limit_key: str | None
    timeout: float | None
    debounce: float | None
    throttle: float | None


def check_timeout(timeout: Any, owner: str) -> float | None:
    """``timeout`` as seconds if it is None or a number above 0 (at most
    1e9, as the database accepts); else ValueError naming ``owner``."""
    if timeout is None:
        return None
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not 0 < timeout <= 1e9  # also refuses NaN
    ):
        raise ValueError(
            f"the timeout of {owner} must be a number of seconds above 0 (at most 1e9), "
            f"got {timeout!r}"
        )
    return float(timeout)


def configure_task(
    *,
    name: str,
    job_manager: manager.JobManager,
    lock: str | None = None,
    queueing_lock: str | None = None,
    task_kwargs: types.JSONDict | None = None,
    schedule_at: datetime.datetime | None = None,
    schedule_in: types.TimeDeltaParams | None = None,
    queue: str | None = None,
    priority: int | None = None,
    retry_policy: dict[str, Any] | None = None,
    connection: Any = None,
    store_result: bool | None = None,
    after: Iterable[int] | None = None,
    after_policy: str | None = None,
    limit_key: str | None = None,
    timeout: float | None = None,
    debounce: float | None = None,
    throttle: float | None = None,
) -> jobs.JobDeferrer:
    """A JobDeferrer for task ``name`` (known or not) with these options."""
    timeout = check_timeout(timeout, f"a job of task {name!r}")
    if schedule_at and schedule_in is not None:
        raise ValueError("Cannot set both schedule_at and schedule_in")
    if limit_key is not None and (not isinstance(limit_key, str) or not limit_key):
        raise ValueError(f"limit_key must be a non-empty string, got {limit_key!r}")
    dedup = check_dedup(
        debounce=debounce,
        throttle=throttle,
        queueing_lock=queueing_lock,
        scheduled=bool(schedule_at) or schedule_in is not None,
        after=after is not None,
    )
    if dedup:
        retry_policy = {**(retry_policy or {}), **dedup}
    if schedule_in is not None:
        # Seconds travel, and the database adds them to its own clock; the
        # Job's scheduled_at is this process's estimate, for reading only.
        retry_policy = {
            **(retry_policy or {}),
            "scheduled_in": utils.seconds_from_timedelta_params(schedule_in),
        }
        schedule_at = utils.datetime_from_timedelta_params(schedule_in)
    if after_policy is not None:
        retry_policy = {**(retry_policy or {}), "after_policy": after_policy}
    job = jobs.Job(
        id=None,
        task_name=name,
        queue=queue or jobs.DEFAULT_QUEUE,
        priority=jobs.DEFAULT_PRIORITY if priority is None else priority,
        lock=lock,
        queueing_lock=queueing_lock,
        task_kwargs=dict(task_kwargs or {}),
        scheduled_at=schedule_at,
        store_result=bool(store_result),
        parents=[int(job_id) for job_id in after] if after is not None else None,
        limit_key=limit_key,
        timeout=timeout,
    )
    return jobs.JobDeferrer(
        job_manager=job_manager, job=job, retry_policy=retry_policy, connection=connection
    )


def check_dedup(
    *,
    debounce: Any,
    throttle: Any,
    queueing_lock: str | None,
    scheduled: bool,
    after: bool,
) -> dict[str, float]:
    """The job object keys of ``debounce`` or ``throttle`` (seconds, on the
    queueing lock); ValueError on a bad value or combination (the database
    refuses them too, with PT001: this names the Python option)."""
    chosen = {
        name: value
        for name, value in (("debounce", debounce), ("throttle", throttle))
        if value is not None
    }
    if not chosen:
        return {}
    if len(chosen) > 1:
        raise ValueError("debounce and throttle cannot be combined: choose one")
    ((name, value),) = chosen.items()
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1e9:
        raise ValueError(f"{name} must be a number of seconds from 0 to 1e9, got {value!r}")
    if not queueing_lock:
        raise ValueError(
            f"{name} needs a queueing_lock: the key whose waiting job it replaces or keeps"
        )
    if name == "debounce" and scheduled:
        raise ValueError(
            "debounce sets the start of the job: it cannot be combined with a schedule"
        )
    if after:
        raise ValueError(f"{name} cannot be combined with after (a job deferred after others)")
    return {name: float(value)}


def check_concurrency_limit(limit: Any, owner: str) -> int | None:
    """``limit`` if it is None or a number of jobs (0 or more); else ValueError."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit < 2**31:
        raise ValueError(
            f"the concurrency limit of {owner} must be a number of jobs (0 or more), "
            f"got {limit!r}"
        )
    return limit


@dataclasses.dataclass(frozen=True)
class RateLimit:
    """At most ``rate`` job starts per ``per`` seconds, across all workers
    (docs/flow-control.md). Written ``RateLimit(100, 60)``, ``(100, 60)``,
    ``(100, datetime.timedelta(minutes=1))`` or ``"100/m"`` (``s``, ``m``,
    ``h``, ``d``) wherever a rate limit is taken."""

    rate: int
    per: float


#: The forms of a rate limit (see RateLimit).
RateLimitValue = RateLimit | tuple[int, float | datetime.timedelta] | str

_RATE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def check_rate_limit(value: Any, owner: str) -> RateLimit | None:
    """``value`` (None or one of the forms of RateLimit) as a RateLimit;
    else ValueError naming ``owner``."""
    if value is None:
        return None
    problem = (
        f"the rate limit of {owner} must be a number of starts (0 or more) per period "
        f"(more than a millisecond): RateLimit(100, 60), (100, 60) or \"100/m\", got {value!r}"
    )
    rate: Any
    per: Any
    if isinstance(value, RateLimit):
        rate, per = value.rate, value.per
    elif isinstance(value, str):
        number, slash, unit = value.strip().partition("/")
        if not slash or unit.strip() not in _RATE_UNITS or not number.strip().isdigit():
            raise ValueError(problem)
        rate, per = int(number), _RATE_UNITS[unit.strip()]
    elif isinstance(value, tuple) and len(value) == 2:
        rate, per = value
        if isinstance(per, datetime.timedelta):
            per = per.total_seconds()
    else:
        raise ValueError(problem)
    if isinstance(rate, bool) or not isinstance(rate, int) or not 0 <= rate < 2**31:
        raise ValueError(problem)
    if isinstance(per, bool) or not isinstance(per, int | float) or not 0.001 <= per < 10**9:
        raise ValueError(problem)
    return RateLimit(rate=rate, per=float(per))


def _keywords_only(positional: tuple[Any, ...]) -> None:
    if positional:
        raise TypeError(
            f"defer takes the task's arguments by keyword only, got {len(positional)} "
            "positional argument(s)"
        )


class Task(Generic[P, R, Args]):
    """A function to be run later, by a worker, with keyword arguments.

    Calling the task calls the function; ``defer`` creates a job. For type
    checkers, P are the function's parameters and Args those ``defer``
    takes (the same, but the JobContext of a ``pass_context`` task).
    """

    def __init__(
        self,
        func: Callable[P, R],
        *,
        blueprint: blueprints.Blueprint,
        name: str | None = None,
        aliases: list[str] | None = None,
        retry: retry_module.RetryValue = False,
        pass_context: bool = False,
        queue: str = jobs.DEFAULT_QUEUE,
        priority: int = jobs.DEFAULT_PRIORITY,
        lock: str | None = None,
        queueing_lock: str | None = None,
        task_middleware: list[middleware_module.TaskMiddleware] | None = None,
        store_result: bool | None = None,
        concurrency_limit: int | None = None,
        timeout: float | None = None,
        rate_limit: RateLimitValue | None = None,
    ):
        self.func = func
        self.blueprint = blueprint
        #: Default queue of its jobs.
        self.queue = queue
        #: Default priority of its jobs (higher runs first).
        self.priority = priority
        #: Other names the task answers to.
        self.aliases: list[str] = list(aliases or [])
        #: The strategy deciding retries of failed jobs (None: no retry).
        self.retry_strategy = retry_module.get_retry_strategy(retry)
        #: Name of the task: the dotted path of the function by default.
        self.name: str = name or self.full_path
        #: Whether the task receives a JobContext as first argument.
        self.pass_context = pass_context
        #: Default lock and queueing lock of its jobs.
        self.lock = lock
        self.queueing_lock = queueing_lock
        #: Whether its jobs keep what it returns (None: the App's store_result).
        self.store_result = store_result
        #: At most this many of its jobs run at once across all workers
        #: (None: no limit). A worker sets it in the database when it starts
        #: (docs/flow-control.md).
        self.concurrency_limit = check_concurrency_limit(
            concurrency_limit, f"task {self.name!r}"
        )
        #: Seconds each of its jobs may run, from its claim (None: no
        #: timeout): stored with each job at defer, unless the job is
        #: deferred with its own (``configure(timeout=...)``, which wins).
        #: The worker stops a run at its deadline: JobTimeout.
        self.timeout = check_timeout(timeout, f"task {self.name!r}")
        #: At most so many of its jobs start per period across all workers
        #: (None: no limit); set by a worker when it starts, as its
        #: concurrency_limit.
        self.rate_limit = check_rate_limit(rate_limit, f"task {self.name!r}")
        #: Middlewares around this task's runs (same sync/async kind as the task).
        self.task_middleware: list[middleware_module.TaskMiddleware] = list(task_middleware or [])
        is_async = inspect.iscoroutinefunction(func)
        middleware_module.check(
            self.task_middleware,
            is_async=is_async,
            owner=f"{'async' if is_async else 'sync'} task {self.name!r}",
        )

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    @property
    def full_path(self) -> str:
        return utils.get_full_path(self.func)

    @property
    def retry_policy(self) -> dict[str, Any]:
        """Retry keys stored with each job (see retry.sql_retry_policy)."""
        return retry_module.sql_retry_policy(self.retry_strategy)

    def add_namespace(self, namespace: str) -> None:
        """Prefix the name and aliases with ``namespace:``."""
        self.name = utils.add_namespace(self.name, namespace)
        self.aliases = [utils.add_namespace(alias, namespace) for alias in self.aliases]

    def configure(self, **options: Any) -> jobs.JobDeferrer:
        """Options of the jobs to defer: ``lock``, ``queueing_lock``,
        ``task_kwargs``, ``schedule_at`` or ``schedule_in`` (timedelta keyword
        arguments), ``queue``, ``priority``, and ``connection`` (a psycopg
        connection of the caller, to defer in its transaction). Unset options
        take the task's defaults; ``store_result`` keeps what the job returns;
        ``after`` (job ids) makes the job wait until those jobs succeeded
        (cancelled as soon as one ends otherwise; ``after_policy="always"``:
        run whatever they became; docs/results.md); ``limit_key`` puts the
        job under the concurrency limit of that key (docs/flow-control.md);
        ``timeout`` (seconds) replaces the task's timeout for these jobs.
        ``debounce=seconds`` (with a ``queueing_lock``): a job already waiting
        with that lock takes the new args and starts ``seconds`` from now,
        and defer returns its id; ``throttle=seconds``: at most one job per
        queueing lock per period, a defer within it returns the id of the
        period's job and creates nothing (docs/flow-control.md).
        Call ``defer`` on the result."""
        self.blueprint.will_configure_task()
        unknown = set(options) - set(ConfigureTaskOptions.__annotations__)
        if unknown:
            raise TypeError(f"Unknown configure options: {', '.join(sorted(unknown))}")

        from procrastinate import app as app_module

        app = self.blueprint
        assert isinstance(app, app_module.App)
        defaults: dict[str, Any] = {"lock": self.lock, "queueing_lock": self.queueing_lock}
        defaults.update(
            queue=self.queue,
            priority=self.priority,
            store_result=app.store_result if self.store_result is None else self.store_result,
            timeout=self.timeout,
        )
        chosen = {key: value for key, value in options.items() if value is not None}
        return configure_task(
            name=self.name,
            job_manager=app.job_manager,
            retry_policy=self.retry_policy,
            **{**defaults, **chosen},
        )

    def defer(self, *_: Args.args, **task_kwargs: Args.kwargs) -> jobs.JobId:
        """Defer one job with these arguments (by keyword); returns its id
        (which also answers ``.id``). AlreadyEnqueued when its queueing lock
        is taken."""
        _keywords_only(_)
        return self.configure().defer(**task_kwargs)

    async def defer_async(self, *_: Args.args, **task_kwargs: Args.kwargs) -> jobs.JobId:
        _keywords_only(_)
        return await self.configure().defer_async(**task_kwargs)

    def defer_and_wait(self, *_: Args.args, **task_kwargs: Args.kwargs) -> Any:
        """Defer one job that stores its result, wait until it ends, and
        return what the task returned (raises as JobManager.wait_for_job,
        and ResultNotStored when the result could not be kept). With a
        timeout: ``task.configure().defer_and_wait(wait_timeout=s, ...)``."""
        _keywords_only(_)
        return self.configure().defer_and_wait_with(task_kwargs, None)

    async def defer_and_wait_async(self, *_: Args.args, **task_kwargs: Args.kwargs) -> Any:
        _keywords_only(_)
        return await self.configure().defer_and_wait_with_async(task_kwargs, None)

    def batch_defer(self, *task_kwargs: types.JSONDict) -> list[jobs.JobId]:
        """Defer one job per dict of arguments, in one call, all or nothing."""
        return self.configure().batch_defer(*task_kwargs)

    async def batch_defer_async(self, *task_kwargs: types.JSONDict) -> list[jobs.JobId]:
        return await self.configure().batch_defer_async(*task_kwargs)

    def get_retry_exception(
        self, exception: BaseException, job: jobs.Job
    ) -> exceptions.JobRetry | None:
        if self.retry_strategy is None:
            return None
        return self.retry_strategy.get_retry_exception(exception=exception, job=job)
