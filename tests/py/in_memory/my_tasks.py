"""A project's module, as in procrastinate's testing how-to: an app and a
task with a side effect the test can observe."""

from __future__ import annotations

from procrastinate import App, PsycopgConnector

my_app = App(connector=PsycopgConnector())
EFFECTS: list[str] = []


@my_app.task(queue="default")
def my_task(word: str) -> None:
    EFFECTS.append(word)


@my_app.task(lock="serial")
async def my_async_task(word: str) -> None:
    EFFECTS.append(word.upper())


def task_side_effect() -> str:
    return " ".join(EFFECTS)
