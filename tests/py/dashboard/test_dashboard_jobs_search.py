"""The jobs page's time range and args search, in a real Chromium: what
matches, bad input refused with a message, and a filter few jobs match
searching one slice of ids per page (keyset, never OFFSET)."""

from __future__ import annotations

import psycopg
import pytest
from playwright.async_api import Page, expect

import procrastinate
from procrastinate.dashboard import pages

from dashboard_harness import screenshot

pytestmark = pytest.mark.subprocess


async def test_jobs_are_searched_by_args_and_creation_time(
    app: procrastinate.App, base_url: str, page: Page, db: psycopg.Connection
):
    task = app.configure_task("signup", queue="users", allow_unknown=True)
    old = [await task.defer_async(user_id=n, plan="free") for n in (1, 2)]
    await task.defer_async(user_id=3, plan="pro", tags=["vip", "eu"])
    await task.defer_async(user_id=4, plan="free")
    # the two first jobs were created long ago (ids follow creation times)
    db.execute(
        "update procrastinate_jobs set created_at = '2026-01-01 10:00:00+00' where id = any(%s)",
        [old],
    )

    await page.goto(f"{base_url}/jobs")
    await expect(page.locator("#jobs tbody tr")).to_have_count(4)
    await page.fill("input[name=args]", '{"plan": "free"}')
    await page.click("form.filters button[type=submit]")
    await expect(page.locator("#jobs tbody tr")).to_have_count(3)
    await page.fill("input[name=args]", '{"tags": ["vip"]}')
    await page.click("form.filters button[type=submit]")
    await expect(page.locator("#jobs tbody tr")).to_have_count(1)
    await expect(page.locator("#jobs tbody tr td").first).not_to_have_text(str(old[0]))

    await page.fill("input[name=args]", "")
    await page.fill("input[name=from]", "2026-01-01T09:00:00")
    await page.fill("input[name=to]", "2026-01-01T11:00:00")
    await page.click("form.filters button[type=submit]")
    await expect(page.locator("#jobs tbody tr td:first-child")).to_have_text(
        [str(old[1]), str(old[0])]
    )
    # the range and a search together
    await page.fill("input[name=args]", '{"user_id": 2}')
    await page.click("form.filters button[type=submit]")
    await expect(page.locator("#jobs tbody tr td:first-child")).to_have_text([str(old[1])])
    await screenshot(page, "jobs-search")


async def test_bad_search_input_is_refused_with_a_message(
    app: procrastinate.App, base_url: str, page: Page
):
    await app.configure_task("any", allow_unknown=True).defer_async(a="b")
    response = await page.goto(f"{base_url}/jobs?args=%7Bnot+json")
    assert response is not None and response.status == 400
    await expect(page.locator("p.error")).to_contain_text("Args search: not valid JSON")
    response = await page.goto(f"{base_url}/jobs?args=%5B1%5D")
    assert response is not None and response.status == 400
    await expect(page.locator("p.error")).to_contain_text("give a JSON object")
    response = await page.goto(f"{base_url}/jobs?from=yesterday")
    assert response is not None and response.status == 400
    await expect(page.locator("p.error")).to_contain_text("Created from: 'yesterday' is not a")
    response = await page.goto(f"{base_url}/jobs?from=2026-02-01T00:00&to=2026-01-01T00:00")
    assert response is not None and response.status == 400
    await expect(page.locator("p.error")).to_have_text(
        "Created from must be before Created before."
    )
    # what jsonb cannot hold: refused by the database, shown as such
    response = await page.goto(f"{base_url}/jobs?args=%7B%22a%22%3A+%22%5Cu0000%22%7D")
    assert response is not None and response.status == 400
    await expect(page.locator("p.error")).to_contain_text("The search could not run")


async def test_a_rare_match_is_searched_one_slice_of_ids_at_a_time(
    app: procrastinate.App, base_url: str, page: Page, monkeypatch: pytest.MonkeyPatch
):
    # slices of 4 ids instead of 100,000: the same walk on a small table
    monkeypatch.setattr(pages, "SEARCH_SLICE", 4)
    task = app.configure_task("scan", allow_unknown=True)
    ids = [await task.defer_async(n=n, rare=n == 1) for n in range(10)]

    await page.goto(f"{base_url}/jobs?args=%7B%22rare%22%3A+true%7D")
    # the newest slice (ids[6..9]) holds no match: the page says what it searched
    await expect(page.locator("#jobs tbody tr")).to_have_count(1)
    await expect(page.locator("#jobs tbody")).to_contain_text("No job matches among these ids")
    await expect(page.locator("#searched")).to_contain_text(f"Searched jobs {ids[6]} to {ids[9]}")
    await page.click("a[rel=next]")
    await expect(page.locator("#searched")).to_contain_text(f"Searched jobs {ids[2]} to {ids[5]}")
    await page.click("a[rel=next]")
    await expect(page.locator("#jobs tbody tr td:first-child")).to_have_text([str(ids[1])])
    # the oldest slice reached: no further link
    await expect(page.locator("a[rel=next]")).to_have_count(0)
