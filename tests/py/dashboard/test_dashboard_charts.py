"""The overview's charts (uPlot, vendored from the npm registry by
scripts/vendor-js.py): drawn in a real Chromium under the dashboard's
Content-Security-Policy, and their data follows the jobs that run, without
a reload."""

from __future__ import annotations

import pathlib
import re

import pytest
from playwright.async_api import Page, expect

import procrastinate

from dashboard_harness import screenshot

pytestmark = pytest.mark.subprocess

VENDOR = (
    pathlib.Path(__file__).resolve().parents[3]
    / "python" / "procrastinate" / "dashboard" / "static" / "vendor" / "uplot"
)


def watch_csp(page: Page) -> list[str]:
    """Messages of the console that report a blocked script or style."""
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: blocked.append(message.text)
        if "Content Security Policy" in message.text or "Refused" in message.text
        else None,
    )
    return blocked


async def test_charts_are_drawn_and_follow_the_jobs_that_run(
    app: procrastinate.App, base_url: str, page: Page
):
    blocked = watch_csp(page)

    @app.task(name="charted", queue="charted")
    async def charted(fail: bool) -> None:
        if fail:
            raise ValueError("no")

    await page.goto(f"{base_url}/")
    charts = page.locator("#charts")
    await expect(charts).to_have_attribute("data-succeeded", "0")
    # two charts, each a canvas uPlot drew into, of a width that fits
    await expect(page.locator("#charts .chart canvas")).to_have_count(2)
    width = await page.locator("#throughput-chart canvas").evaluate("c => c.width")
    assert width > 200
    await page.evaluate("window.notReloaded = true")

    for fail in (False, False, True):
        await charted.defer_async(fail=fail)
    await app.run_worker_async(queues=["charted"], wait=False)

    await expect(charts).to_have_attribute("data-succeeded", "2", timeout=20_000)
    await expect(charts).to_have_attribute("data-failed", "1")
    await expect(page.locator("#chart-totals")).to_have_text("2 succeeded, 1 failed")
    # one queue chosen: its own figures; the day range: the same jobs
    await page.select_option("#chart-queue", "charted")
    await expect(charts).to_have_attribute("data-queue", "charted")
    await page.select_option("#chart-range", "day")
    await expect(charts).to_have_attribute("data-range", "day")
    await expect(charts).to_have_attribute("data-failed", "1")
    assert await page.evaluate("window.notReloaded") is True
    assert blocked == []
    await screenshot(page, "overview-charts")


@pytest.mark.parametrize("width", [390, 1200])
async def test_charts_in_dark_mode_and_on_a_phone(
    app: procrastinate.App, base_url: str, page: Page, width: int
):
    blocked = watch_csp(page)
    await app.configure_task("t", queue="q", allow_unknown=True).defer_async()
    await page.emulate_media(color_scheme="dark")
    await page.set_viewport_size({"width": width, "height": 900})
    await page.goto(f"{base_url}/")
    # (no wait_for_function: the page's CSP forbids the eval it would need)
    await expect(page.locator("#charts")).to_have_attribute(
        "data-draws", re.compile(r"^[1-9]"), timeout=10_000
    )
    canvas_width = await page.locator("#throughput-chart canvas").evaluate(
        "c => c.getBoundingClientRect().width"
    )
    assert 200 < canvas_width <= width
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    # the axes take the dark theme's muted colour, not uPlot's default black
    await expect(page.locator("#charts")).to_have_attribute("data-axis-color", "#9aa4ae")
    assert blocked == []
    await screenshot(page, f"overview-charts-dark-{width}")


def test_vendored_chart_library_keeps_its_licence_and_pinned_version():
    assert "MIT License" in (VENDOR / "LICENSE").read_text()
    assert (VENDOR / "VERSION").read_text().startswith("uplot@1.6.32 sha512-")
    assert (VENDOR / "uPlot.iife.min.js").stat().st_size > 10_000
