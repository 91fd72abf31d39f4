"""The periodic tasks page: the cron of each periodic task the App
registers, its last tick (from the database) and its next one (from the
cron), and a tick of a task the App does not know, shown without cron."""

from __future__ import annotations

import datetime

import psycopg
import pytest
from playwright.async_api import Page, expect

import procrastinate

from dashboard_harness import screenshot

pytestmark = pytest.mark.subprocess


def utc(timestamp: int) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


async def test_periodic_tasks_show_cron_last_and_next_tick(
    app: procrastinate.App, base_url: str, page: Page, db: psycopg.Connection
):
    @app.periodic(cron="0 3 * * *")
    @app.task(name="nightly")
    async def nightly(timestamp: int) -> None:
        pass

    @app.periodic(cron="*/5 * * * *", periodic_id="fast")
    @app.task(name="often")
    async def often(timestamp: int) -> None:
        pass

    # one tick of "nightly" deferred, as a worker does
    tick = 1_767_236_400  # 2026-01-01 03:00:00 UTC
    registered = app.periodic_registry.periodic_tasks[("nightly", "")]
    deferrer = registered.task.configure(task_kwargs={"timestamp": tick})
    await deferrer.job_manager.defer_periodic_job(deferrer.job, "", tick,
                                                  retry_policy=deferrer.retry_policy)
    # a tick of a task this App does not register (another service's)
    db.execute(
        "insert into procrastinate_periodic_defers (task_name, periodic_id, defer_timestamp)"
        " values ('elsewhere', '', 1767225600)"
    )

    await page.goto(f"{base_url}/periodic")
    nightly_row = page.locator('#periodic tr[data-task="nightly"]')
    await expect(nightly_row.locator('[data-field="cron"]')).to_have_text("0 3 * * *")
    await expect(nightly_row.locator('[data-field="last"]')).to_have_text(utc(tick))
    next_text = await nightly_row.locator('[data-field="next"]').inner_text()
    assert next_text.endswith("03:00:00 UTC"), next_text
    assert next_text > utc(int(datetime.datetime.now(datetime.timezone.utc).timestamp()))

    often_row = page.locator('#periodic tr[data-task="often"]')
    await expect(often_row).to_contain_text("fast")
    await expect(often_row.locator('[data-field="last"]')).to_have_text("–")
    minute = int((await often_row.locator('[data-field="next"]').inner_text())[14:16])
    assert minute % 5 == 0

    other = page.locator('#periodic tr[data-task="elsewhere"]')
    await expect(other.locator('[data-field="cron"]')).to_have_text("not registered in this App")
    await expect(other.locator('[data-field="last"]')).to_have_text(utc(1_767_225_600))
    await screenshot(page, "periodic")
