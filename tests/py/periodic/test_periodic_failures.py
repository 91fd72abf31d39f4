"""Periodic tasks fail loudly (issue 14, item 7): a cron expression that can
never fire is refused when the task is registered, and a deferrer that
cannot compute a tick raises (naming the task and the expression) instead of
stopping every periodic task of the worker without a word."""

from __future__ import annotations

import asyncio

import pytest

from procrastinate import (
    App,
    Blueprint,
    PsycopgConnector,
    exceptions,
    periodic,
)
from procrastinate.worker import periodic_deferrer

NEVER = "0 0 31 2 *"  # the 31st of February
T = 1_800_000_000


@pytest.fixture
def bare_app():
    return App(connector=PsycopgConnector())


def test_a_cron_that_never_fires_is_refused_at_registration(bare_app):
    with pytest.raises(exceptions.InvalidPeriodicTask) as raised:

        @bare_app.periodic(cron=NEVER, periodic_id="feb")
        @bare_app.task(name="never_task")
        def never_task(timestamp):
            pass

    message = str(raised.value)
    assert "'never_task'" in message
    assert f"'{NEVER}'" in message
    assert "never fires" in message
    assert isinstance(raised.value, ValueError)  # as an invalid cron always was
    assert bare_app.periodic_registry.periodic_tasks == {}


def test_a_cron_that_never_fires_is_refused_in_a_blueprint_too(bare_app):
    blueprint = Blueprint()
    with pytest.raises(exceptions.InvalidPeriodicTask, match="'bp_task'"):

        @blueprint.periodic(cron="0 0 30 2 * 10")
        @blueprint.task(name="bp_task")
        def bp_task(timestamp):
            pass


def test_rare_but_possible_crons_are_accepted(bare_app):
    @bare_app.periodic(cron="0 0 29 2 *")  # every four years
    @bare_app.task(name="leap")
    def leap(timestamp):
        pass

    assert ("leap", "") in bare_app.periodic_registry.periodic_tasks
    periodic.validate_cron("0 0 29 2 *")
    with pytest.raises(ValueError, match="never fires"):
        periodic.validate_cron(NEVER)


def sneak_in(app, cron: str, name: str = "sneaky") -> None:
    """Register a periodic task past the registration check (as a registry
    filled by hand would), to see what the deferrer does with it."""

    @app.task(name=name)
    def sneaky(timestamp):
        pass

    app.periodic_registry.periodic_tasks[(name, "")] = periodic.PeriodicTask(
        task=sneaky, cron=cron, periodic_id="", configure_kwargs={}
    )


async def test_the_deferrer_raises_at_once_on_a_cron_that_never_fires(app, db):
    @app.periodic(cron="* * * * * */10")
    @app.task(name="fine")
    def fine(timestamp):
        pass

    sneak_in(app, NEVER)
    deferrer = periodic_deferrer.PeriodicDeferrer(app.periodic_registry)

    with pytest.raises(exceptions.InvalidPeriodicTask) as raised:
        await asyncio.wait_for(deferrer.run(), 5)

    assert "'sneaky'" in str(raised.value)
    assert f"'{NEVER}'" in str(raised.value)


async def test_computing_the_next_tick_raises_with_the_task_named(app, db):
    sneak_in(app, NEVER)
    deferrer = periodic_deferrer.PeriodicDeferrer(app.periodic_registry)

    with pytest.raises(exceptions.InvalidPeriodicTask, match="'sneaky'"):
        deferrer.seconds_to_next_tick(at=T)
    with pytest.raises(exceptions.InvalidPeriodicTask, match="'sneaky'"):
        await deferrer.defer_due_ticks(now=T)
    deferrer.last_defers[("sneaky", "")] = T - 60
    with pytest.raises(exceptions.InvalidPeriodicTask, match="0 0 31 2"):
        await deferrer.defer_due_ticks(now=T)


async def test_a_worker_with_a_cron_that_never_fires_stops_with_the_reason(app, caplog):
    # Needs the worker to stop at once when its periodic deferrer dies (or
    # to check the periodic tasks before it starts): without that, the
    # worker would run on, deferring nothing, and this would time out.
    caplog.set_level("INFO")
    sneak_in(app, NEVER)

    try:
        await asyncio.wait_for(
            app.run_worker_async(install_signal_handlers=False, listen_notify=False), 15
        )
    except exceptions.InvalidPeriodicTask as exc:
        reason = str(exc)  # refused before it started
    else:
        reason = caplog.text  # stopped, the reason in its log
    assert "'sneaky'" in reason
    assert f"'{NEVER}'" in reason
