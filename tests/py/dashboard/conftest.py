"""Fixtures of the dashboard's tests: a dashboard on the test's database,
served for real, and a page of a real Chromium whose dialogs (alert(),
which an injected script would open) fail the test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Page

import procrastinate
from procrastinate import dashboard

from dashboard_harness import TOKEN, chromium, serve


@pytest_asyncio.fixture
async def base_url(app: procrastinate.App) -> AsyncIterator[str]:
    """A dashboard with actions on (TOKEN), refreshing its counts often."""
    async with serve(dashboard.app(app, token=TOKEN, refresh_interval=0.2)) as url:
        yield url


@pytest_asyncio.fixture
async def read_only_url(app: procrastinate.App) -> AsyncIterator[str]:
    async with serve(dashboard.app(app)) as url:
        yield url


@pytest_asyncio.fixture
async def page() -> AsyncIterator[Page]:
    dialogs: list[str] = []
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1200, "height": 800})
        new_page = await context.new_page()
        # a dialog is accepted (the page goes on) and recorded as a failure
        async def record(dialog) -> None:  # noqa: ANN001
            dialogs.append(dialog.message)
            await dialog.dismiss()

        new_page.on("dialog", record)
        yield new_page
        await context.close()
    if dialogs:
        pytest.fail(f"the page opened dialogs (injected script ran?): {dialogs}")
