"""The dashboard in a real headless Chromium: what an operator sees and
does, against a real database and a real worker."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from playwright.async_api import Page, expect

import procrastinate

from dashboard_harness import screenshot, sign_in

# Playwright drives Chromium through a driver process of its own.
pytestmark = pytest.mark.subprocess

XSS = "<script>alert(1)</script>"


def counts(page: Page, queue: str, column: str):
    return page.locator(f'#queue-counts tr[data-queue="{queue}"] td[data-count="{column}"]')


async def test_overview_counts_change_while_a_worker_runs(
    app: procrastinate.App, base_url: str, page: Page
):
    release = asyncio.Event()

    @app.task(name="held", queue="busy")
    async def held() -> None:
        await release.wait()

    for _ in range(3):
        await held.defer_async()
    await page.goto(f"{base_url}/")
    await expect(counts(page, "busy", "todo")).to_have_text("3")
    # a reload would lose this: the counts must change without one
    await page.evaluate("window.notReloaded = true")

    worker = asyncio.create_task(app.run_worker_async(queues=["busy"], concurrency=3, wait=False))
    try:
        await expect(counts(page, "busy", "doing")).to_have_text("3", timeout=20_000)
        await expect(counts(page, "busy", "todo")).to_have_text("0")
        await screenshot(page, "overview-running")
        release.set()
        await worker
    finally:
        release.set()
    await expect(counts(page, "busy", "succeeded_hour")).to_have_text("3", timeout=20_000)
    await expect(counts(page, "busy", "succeeded_day")).to_have_text("3")
    await expect(counts(page, "busy", "doing")).to_have_text("0")
    assert await page.evaluate("window.notReloaded") is True
    await screenshot(page, "overview")


async def test_jobs_are_filtered_and_a_job_opens_with_its_history(
    app: procrastinate.App, base_url: str, page: Page
):
    @app.task(name="mail", queue="emails", store_result=True)
    async def mail(to: str) -> str:
        return f"sent to {to}"

    @app.task(name="report", queue="slow")
    async def report() -> None:
        pass

    mail_id = await mail.defer_async(to="a@b.c")
    await report.defer_async()
    await report.configure(lock="user:1").defer_async()
    await app.run_worker_async(queues=["emails"], wait=False)

    await page.goto(f"{base_url}/jobs")
    await expect(page.locator("#jobs tbody tr")).to_have_count(3)
    await page.fill("input[name=task]", "report")
    await page.click("form.filters button[type=submit]")
    await expect(page.locator("#jobs tbody tr")).to_have_count(2)
    await page.fill("input[name=lock]", "user:1")
    await page.click("form.filters button[type=submit]")
    await expect(page.locator("#jobs tbody tr")).to_have_count(1)
    await page.goto(f"{base_url}/jobs?status=succeeded")
    await expect(page.locator("#jobs tbody tr")).to_have_count(1)
    await screenshot(page, "jobs")

    await page.click(f"#jobs a:text-is('{mail_id}')")
    await expect(page.locator("#job-status")).to_have_text("succeeded")
    await expect(page.locator("#job-args")).to_contain_text('"to": "a@b.c"')
    await expect(page.locator("#job-result")).to_have_text('"sent to a@b.c"')
    events = page.locator("#job-events .event")
    await expect(events).to_have_text(["deferred", "started", "succeeded"])
    await screenshot(page, "job")


async def test_jobs_page_by_keyset(app: procrastinate.App, base_url: str, page: Page):
    ids = [await app.configure_task("many", allow_unknown=True).defer_async() for _ in range(55)]
    await page.goto(f"{base_url}/jobs")
    await expect(page.locator("#jobs tbody tr")).to_have_count(50)
    await expect(page.locator("#jobs tbody tr").first.locator("td").first).to_have_text(
        str(ids[-1])
    )
    await page.click("a[rel=next]")
    await expect(page.locator("#jobs tbody tr")).to_have_count(5)
    await expect(page.locator("#jobs tbody tr").last.locator("td").first).to_have_text(str(ids[0]))
    assert "before=" in page.url


async def test_a_failed_job_is_retried_and_succeeds(
    app: procrastinate.App, base_url: str, page: Page
):
    fixed = False

    @app.task(name="flaky", queue="retries")
    async def flaky() -> None:
        if not fixed:
            raise ValueError("the service is down")

    job_id = await flaky.defer_async()
    await app.run_worker_async(queues=["retries"], wait=False)

    await sign_in(page, base_url)
    await page.goto(f"{base_url}/failures")
    await expect(page.locator("#failure-groups tbody tr")).to_have_count(1)
    await expect(page.locator("#failure-groups")).to_contain_text("ValueError")
    await screenshot(page, "failures")

    await page.goto(f"{base_url}/jobs/{job_id}")
    await expect(page.locator("#job-status")).to_have_text("failed")
    await expect(page.locator("#job-traceback")).to_contain_text("ValueError: the service is down")
    fixed = True
    await page.click("button:text-is('Retry')")
    await expect(page.locator("#job-status")).to_have_text("todo")
    await app.run_worker_async(queues=["retries"], wait=False)
    await page.reload()
    await expect(page.locator("#job-status")).to_have_text("succeeded")
    await screenshot(page, "job-retried")


async def test_a_failure_group_is_retried(app: procrastinate.App, base_url: str, page: Page):
    @app.task(name="broken", queue="groups")
    async def broken(kind: str) -> None:
        raise (KeyError if kind == "key" else ValueError)(kind)

    for kind in ("value", "value", "key"):
        await broken.defer_async(kind=kind)
    await app.run_worker_async(queues=["groups"], wait=False)

    await sign_in(page, base_url)
    await page.goto(f"{base_url}/failures")
    row = page.locator("#failure-groups tbody tr", has_text="ValueError")
    await expect(row.locator("td").nth(2)).to_have_text("2")
    await row.locator("button:text-is('Retry this group')").click()
    await expect(page.locator("#failure-groups tbody tr")).to_have_count(1)
    await expect(page.locator("#failure-groups")).to_contain_text("KeyError")
    await page.goto(f"{base_url}/jobs?queue=groups&status=todo")
    await expect(page.locator("#jobs tbody tr")).to_have_count(2)


async def test_a_queue_is_paused_and_resumed(
    app: procrastinate.App, base_url: str, page: Page, db: psycopg.Connection
):
    await app.configure_task("any", queue="emails", allow_unknown=True).defer_async()

    def paused() -> bool:
        row = db.execute(
            "select paused from procrastinate_queue_stats where queue_name = 'emails'"
        ).fetchone()
        return bool(row and row["paused"])

    await sign_in(page, base_url)
    await page.goto(f"{base_url}/queues")
    row = page.locator('#queues tr[data-queue="emails"]')
    await expect(row.locator(".queue-state")).to_have_text("running")
    await row.locator("button:text-is('Pause')").click()
    await expect(row.locator(".queue-state")).to_have_text("paused")
    assert paused()
    await screenshot(page, "queues")
    await row.locator("button:text-is('Resume')").click()
    await expect(row.locator(".queue-state")).to_have_text("running")
    assert not paused()


async def test_an_idle_queue_is_paused_by_name(
    app: procrastinate.App, base_url: str, page: Page, db: psycopg.Connection
):
    # no job waits in "nightly": the list does not show it, the form pauses it
    await sign_in(page, base_url)
    await page.goto(f"{base_url}/queues")
    row = page.locator('#queues tr[data-queue="nightly"]')
    await expect(row).to_have_count(0)
    await page.fill("#pause-by-name input[name=queue]", "nightly")
    await page.click("#pause-by-name button[type=submit]")
    await expect(row.locator(".queue-state")).to_have_text("paused")
    paused = db.execute("select queue_name from procrastinate_paused_queues").fetchall()
    assert [r["queue_name"] for r in paused] == ["nightly"]
    await row.locator("button:text-is('Resume')").click()
    await expect(row).to_have_count(0)


async def test_markup_from_the_database_renders_as_text(
    app: procrastinate.App, base_url: str, page: Page
):
    job_id = await app.configure_task(XSS, queue=XSS, lock=XSS, allow_unknown=True).defer_async(
        payload=XSS, html='<img src=x onerror="alert(2)">'
    )
    await sign_in(page, base_url)
    for path in ("/", "/jobs", f"/jobs/{job_id}", "/locks", "/queues"):
        await page.goto(base_url + path)
        # the text shows as written; no element was made of it (the page
        # fixture fails the test if alert() ran)
        await expect(page.locator("main")).to_contain_text(XSS)
        assert await page.locator("main script, main img").count() == 0, path
    await page.goto(f"{base_url}/jobs/{job_id}")
    await expect(page.locator("#job-task")).to_have_text(XSS)
    await expect(page.locator("#job-args")).to_contain_text('<img src=x onerror=\\"alert(2)\\">')
    await screenshot(page, "xss-job")


async def test_read_only_dashboard_offers_no_action(
    app: procrastinate.App, read_only_url: str, page: Page
):
    job_id = await app.configure_task("any", allow_unknown=True).defer_async()
    await page.goto(f"{read_only_url}/jobs/{job_id}")
    await expect(page.locator("#job-status")).to_have_text("todo")
    await expect(page.locator("nav .badge")).to_have_text("read-only")
    assert await page.locator("main form[method=post]").count() == 0
    await page.goto(f"{read_only_url}/queues")
    assert await page.locator("main button").count() == 0


@pytest.mark.parametrize("width", [390, 1200])
async def test_every_page_fits_the_screen_in_dark_mode(
    app: procrastinate.App, base_url: str, page: Page, width: int
):
    job_id = await app.configure_task("a_task_with_a_rather_long_name", lock="a-lock",
                                      allow_unknown=True).defer_async(text="x" * 300)
    await page.emulate_media(color_scheme="dark")
    await page.set_viewport_size({"width": width, "height": 800})
    for name, path in [("overview", "/"), ("jobs", "/jobs"), ("job", f"/jobs/{job_id}"),
                       ("failures", "/failures"), ("workers", "/workers"), ("locks", "/locks"),
                       ("periodic", "/periodic"), ("queues", "/queues"), ("login", "/login")]:
        await page.goto(base_url + path)
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(20, 23, 26)", (path, background)
        # wide tables scroll inside their box: the page itself never does
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (path, width, overflow)
        await screenshot(page, f"{name}-dark-{width}")
