"""Small helpers: dotted-path imports, time, and bridging sync and async code."""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import functools
import importlib
import inspect
import logging
import pathlib
import re
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator
from typing import Any, Generic, NoReturn, TypeVar

from procrastinate import exceptions
from procrastinate.types import TimeDeltaParams

T = TypeVar("T")

logger = logging.getLogger(__name__)

# --- imports ------------------------------------------------------------------


def load_from_path(path: str, allowed_type: type[T] | None = None) -> T:
    """Import ``package.module.name`` and return ``name``, optionally checking
    its type. Raises LoadFromPathError."""
    module_path, _, name = path.rpartition(".")
    if not module_path:
        raise exceptions.LoadFromPathError(f"{path} is not a valid dotted path")
    try:
        module = importlib.import_module(module_path)
    except ImportError as exc:
        raise exceptions.LoadFromPathError(str(exc)) from exc
    try:
        found = getattr(module, name)
    except AttributeError as exc:
        raise exceptions.LoadFromPathError(str(exc)) from exc
    if allowed_type is not None and not isinstance(found, allowed_type):
        raise exceptions.LoadFromPathError(
            f"Object at {path} is not of type {allowed_type.__name__} but {type(found).__name__}"
        )
    return found


def import_all(import_paths: Iterable[str]) -> None:
    """Import every module of ``import_paths`` (so that their tasks register)."""
    for import_path in import_paths:
        logger.debug(
            f"Importing module {import_path}",
            extra={"action": "import_module", "module_name": import_path},
        )
        importlib.import_module(import_path)


class MovedElsewhere:
    """Placeholder for a name that moved: using it raises MovedElsewhere."""

    def __init__(self, name: str, new_location: str):
        self.name = name
        self.new_location = new_location

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise exceptions.MovedElsewhere(
            f"procrastinate.{self.name} has moved to {self.new_location}"
        )

    def __getattr__(self, item: str) -> NoReturn:
        self()


def caller_module_name(prefix: str = "procrastinate") -> str:
    """Name of the first module up the stack that is not under ``prefix``."""
    try:
        frame = inspect.currentframe()
        while frame is not None:
            name = frame.f_globals["__name__"]
            if name != prefix and not name.startswith(f"{prefix}."):
                return name
            frame = frame.f_back
        raise ValueError("no caller outside the package")
    except Exception as exc:
        raise exceptions.CallerModuleUnknown from exc


def get_full_path(obj: Any) -> str:
    """Dotted path of a function, used as the default task name."""
    try:
        name, module = obj.__name__, obj.__module__
    except AttributeError as exc:
        raise exceptions.FunctionPathError(
            f"Couldn't derive a task name for {obj!r}: pass name= to the decorator"
        ) from exc
    if module == "__main__":
        # A script run as __main__: name tasks after its relative path, as the
        # worker will import it under that name.
        path = pathlib.Path(getattr(inspect.getmodule(obj), "__file__", None) or "/")
        if not path.is_absolute():
            module = ".".join([*path.parts[:-1], path.stem])
    return f"{module}.{name}"


def add_namespace(name: str, namespace: str) -> str:
    return f"{namespace}:{name}" if namespace else name


def queues_display(queues: Iterable[str] | None) -> str:
    return f"queues {', '.join(queues)}" if queues else "all queues"


def causes(exc: BaseException | None) -> Iterator[BaseException]:
    """The exception and its chain of causes and contexts."""
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


# --- time -----------------------------------------------------------------------


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.timezone.utc)


def utcmax() -> datetime.datetime:
    return datetime.datetime.max.replace(tzinfo=datetime.timezone.utc)


#: The longest relative time the SQL core accepts (scheduled_in, retry "in").
MAX_RELATIVE_SECONDS = 1e10


def seconds_from_timedelta_params(params: TimeDeltaParams) -> float:
    """``timedelta(**params)`` in seconds, for the database to add to its own
    clock: from 0 (the past means now) to MAX_RELATIVE_SECONDS (the far
    future, also when the timedelta overflows)."""
    try:
        seconds = datetime.timedelta(**params).total_seconds()
    except OverflowError:
        return MAX_RELATIVE_SECONDS
    return min(max(seconds, 0.0), MAX_RELATIVE_SECONDS)


def datetime_from_timedelta_params(params: TimeDeltaParams) -> datetime.datetime:
    """Now plus ``timedelta(**params)``; the far future if that overflows."""
    try:
        return utcnow() + datetime.timedelta(**params)
    except OverflowError:
        return utcmax()


_DURATION_PART = re.compile(r"(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|w|d|h|m|s)", re.IGNORECASE)
_DURATION_UNITS = dict(w="weeks", d="days", h="hours", m="minutes", s="seconds", ms="milliseconds")


def parse_timedelta_params(text: str) -> TimeDeltaParams:
    """Parse ``"90"`` (seconds), ``"1h30m"``, ``"2d"``, ``"1w 2d 3h 4m 5s"``
    into timedelta keyword arguments. Raises ValueError."""
    text = text.strip()
    try:
        return {"seconds": float(text)}
    except ValueError:
        pass
    position = 0
    params: dict[str, float] = {}
    for match in _DURATION_PART.finditer(text):
        if text[position : match.start()].strip():
            break
        key = _DURATION_UNITS[match["unit"].lower()]
        params[key] = params.get(key, 0) + float(match["value"])
        position = match.end()
    if not params or text[position:].strip():
        raise ValueError(f"Cannot parse a duration from {text!r} (try 90, 1h30m, 2d)")
    return params  # type: ignore[return-value]


def parse_datetime(raw: str) -> datetime.datetime:
    """Parse an ISO 8601 date/time; a naive one is taken as UTC."""
    value = raw.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


# --- sync / async bridging ---------------------------------------------------

# Set by sync_to_async for the thread it starts: the loop that waits for it, on
# which async_to_sync runs coroutines from that thread.
_outer_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "procrastinate_outer_loop", default=None
)


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def sync_to_async(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking function in a thread, without blocking the loop. From
    that thread, async_to_sync runs coroutines back on this loop."""
    token = _outer_loop.set(asyncio.get_running_loop())
    try:
        return await asyncio.to_thread(func, *args, **kwargs)
    finally:
        _outer_loop.reset(token)


def async_to_sync(awaitable: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Call an async function from sync code and return its result.

    From a thread started by sync_to_async, the coroutine runs on the loop
    that started the thread (where the app's pool lives); with no loop around,
    on a new loop. Calling it from inside a running loop would block that loop:
    SyncCallInEventLoop is raised instead.
    """
    outer = _outer_loop.get()
    current = running_loop()
    if current is not None and (outer is None or outer is current):
        raise exceptions.SyncCallInEventLoop
    coro = _as_coroutine(awaitable(*args, **kwargs))
    if outer is not None and outer.is_running() and outer is not current:
        return asyncio.run_coroutine_threadsafe(coro, outer).result()
    return asyncio.run(coro)


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


class AwaitableContext(Generic[T]):
    """Result of ``App.open_async()``: either ``await`` it (opens and returns
    the value) or use it with ``async with`` (opens, then closes on exit)."""

    def __init__(
        self,
        open_coro: Callable[[], Awaitable[Any]],
        close_coro: Callable[[], Awaitable[Any]],
        return_value: T,
    ):
        self._open_coro = open_coro
        self._close_coro = close_coro
        self._return_value = return_value

    async def __aenter__(self) -> T:
        await self._open_coro()
        return self._return_value

    def __await__(self) -> Generator[Any, None, T]:
        return self.__aenter__().__await__()

    async def __aexit__(self, *exc_info: object) -> None:
        await self._close_coro()


async def wait_for(awaitable: Awaitable[T], timeout: float | None) -> T:
    """asyncio.wait_for that never swallows a cancellation. Before Python
    3.12, wait_for returns the result of an awaitable that finished just as
    the caller was cancelled, and the cancellation is lost: a worker loop
    cancelled at shutdown would go on (seen: a listener that had just
    connected never stopped). The lost cancellation is raised again."""
    result = await asyncio.wait_for(awaitable, timeout)
    if getattr(asyncio.current_task(), "cancelling", lambda: 0)():  # 3.11+
        raise asyncio.CancelledError
    return result


async def cancel_and_capture_errors(tasks: list[asyncio.Task[Any]], timeout: float = 5.0) -> None:
    """Cancel tasks, wait for them (at most ``timeout`` seconds), and log the
    errors they ended with, if any. A task still running after ``timeout``
    swallowed its cancellation: it is named in an error log and abandoned."""
    if pending := {task for task in tasks if not task.done()}:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=timeout)
    if pending:
        logger.error(
            "Abandoning tasks that did not stop when cancelled: "
            + ", ".join(sorted(task.get_name() for task in pending)),
            extra={"action": "cancel_tasks_failed"},
        )
    for task in tasks:
        if task.done() and not task.cancelled() and (error := task.exception()) is not None:
            logger.error(
                f"{task.get_name()} error: {error!r}",
                exc_info=error,
                extra={"action": f"{task.get_name()}_error"},
            )


def returns_awaitable(func: Callable[..., Any]) -> bool:
    """Whether calling ``func`` gives an awaitable (coroutine functions,
    partials and callable objects included)."""
    while isinstance(func, functools.partial):
        func = func.func
    call = getattr(func, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(call)
