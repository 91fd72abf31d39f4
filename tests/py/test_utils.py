"""Unit tests of utils.py."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from procrastinate import exceptions, utils


def test_load_from_path():
    assert utils.load_from_path("datetime.timedelta") is datetime.timedelta
    assert utils.load_from_path("datetime.timedelta", type) is datetime.timedelta
    for path in ("nodot", "no_such_module.x", "datetime.nothing_here"):
        with pytest.raises(exceptions.LoadFromPathError):
            utils.load_from_path(path)
    with pytest.raises(exceptions.LoadFromPathError):
        utils.load_from_path("datetime.timedelta", int)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90", {"seconds": 90.0}),
        ("1.5", {"seconds": 1.5}),
        ("1h30m", {"hours": 1.0, "minutes": 30.0}),
        ("2d", {"days": 2.0}),
        (
            "1w 2d 3h 4m 5s",
            {"weeks": 1.0, "days": 2.0, "hours": 3.0, "minutes": 4.0, "seconds": 5.0},
        ),
        ("250ms", {"milliseconds": 250.0}),
    ],
)
def test_parse_timedelta_params(text, expected):
    assert utils.parse_timedelta_params(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "1x", "1h junk"])
def test_parse_timedelta_params_rejects(text):
    with pytest.raises(ValueError):
        utils.parse_timedelta_params(text)


def test_parse_datetime():
    utc = datetime.timezone.utc
    assert utils.parse_datetime("2030-01-02T03:04:05Z") == datetime.datetime(
        2030, 1, 2, 3, 4, 5, tzinfo=utc
    )
    assert utils.parse_datetime("2030-01-02 03:04").tzinfo is not None
    assert utils.parse_datetime(
        "2030-01-02T03:04:05+02:00"
    ).utcoffset() == datetime.timedelta(hours=2)


def test_datetime_from_timedelta_params_overflow():
    assert utils.datetime_from_timedelta_params({"days": 10**9}) == utils.utcmax()


def test_names():
    assert utils.add_namespace("a.b", "ns") == "ns:a.b"
    assert utils.add_namespace("a.b", "") == "a.b"
    assert utils.get_full_path(test_names) == f"{__name__}.test_names"
    assert utils.queues_display(None) == "all queues"
    assert utils.queues_display(["a", "b"]) == "queues a, b"


def test_moved_elsewhere():
    moved = utils.MovedElsewhere(name="X", new_location="y.X")
    with pytest.raises(exceptions.MovedElsewhere):
        moved()
    with pytest.raises(exceptions.MovedElsewhere):
        _ = moved.anything


async def test_awaitable_context():
    events = []

    async def opening():
        events.append("open")

    async def closing():
        events.append("close")

    assert await utils.AwaitableContext(opening, closing, 42) == 42
    async with utils.AwaitableContext(opening, closing, 43) as value:
        assert value == 43
    assert events == ["open", "open", "close"]


async def test_async_to_sync_from_a_sync_to_async_thread_runs_on_the_outer_loop():
    outer = asyncio.get_running_loop()

    async def which_loop():
        return asyncio.get_running_loop()

    def blocking():
        return utils.async_to_sync(which_loop)

    assert await utils.sync_to_async(blocking) is outer


async def test_async_to_sync_inside_the_loop_raises():
    async def nothing():
        return None

    with pytest.raises(exceptions.SyncCallInEventLoop):
        utils.async_to_sync(nothing)


def test_async_to_sync_without_loop():
    async def double(x):
        return x * 2

    assert utils.async_to_sync(double, 21) == 42


async def test_cancel_and_capture_errors(caplog):
    async def failing():
        raise RuntimeError("boom")

    failed = asyncio.ensure_future(failing())
    await asyncio.sleep(0)
    sleeping = asyncio.ensure_future(asyncio.sleep(10))
    await utils.cancel_and_capture_errors([failed, sleeping])
    assert sleeping.cancelled()
    assert "boom" in caplog.text


def test_returns_awaitable():
    import functools

    async def coro(a):
        pass

    class Callable:
        async def __call__(self):
            pass

    assert utils.returns_awaitable(coro)
    assert utils.returns_awaitable(functools.partial(coro, 1))
    assert utils.returns_awaitable(Callable())
    assert not utils.returns_awaitable(print)


async def test_wait_for_keeps_a_cancellation_that_came_with_the_result():
    # The awaited future gets its result and the waiting task is cancelled
    # in the same turn of the loop: before Python 3.12, asyncio.wait_for
    # returns the result and the cancellation is lost (a worker loop
    # cancelled at shutdown would go on).
    inner = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(utils.wait_for(inner, 10))
    await asyncio.sleep(0)  # now waiting on inner
    inner.set_result("connected")
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_wait_for_returns_and_times_out_as_asyncio_does():
    assert await utils.wait_for(asyncio.sleep(0, result=3), 1) == 3
    with pytest.raises(asyncio.TimeoutError):
        await utils.wait_for(asyncio.Event().wait(), 0.01)
