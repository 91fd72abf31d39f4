"""The dashboard served for real (uvicorn, in the test's event loop, on a
free port) and a real headless Chromium (Debian's chromium package, driven
by Playwright: never `playwright install`)."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import re
import shutil
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from playwright.async_api import Browser, Page, async_playwright

from polling import poll

SCREENSHOTS = pathlib.Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
TOKEN = "s3cret-token"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def chromium_path() -> str:
    # A missing browser fails the test: scripts/install-system-deps.sh installs it.
    path = shutil.which("chromium")
    if path is None:
        raise AssertionError("Debian's chromium is missing: run `make install` (apt-get)")
    return path


@contextlib.asynccontextmanager
async def serve(asgi_app: Any) -> AsyncIterator[str]:
    """Serve ``asgi_app`` until the block ends; yields its base URL. In the
    test's own event loop: the procrastinate App's pool belongs to it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(asgi_app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await poll(lambda: server.started or task.done(), "the dashboard to listen")
        if task.done():
            task.result()  # its exception, if it failed to start
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def screenshot(page: Page, name: str) -> None:
    """A picture of the page as an artefact of the run (git-ignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


async def sign_in(page: Page, base_url: str, token: str = TOKEN) -> None:
    await page.goto(f"{base_url}/login")
    await page.fill("input[name=token]", token)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/")
