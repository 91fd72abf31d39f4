"""Actions refused without the credential, without the CSRF token, on a
read-only dashboard, or as a GET; the same request with both goes through
(so that the refusals are the checks', not a broken route's)."""

from __future__ import annotations

import httpx
import psycopg
import pytest

import procrastinate
from procrastinate import dashboard

from dashboard_harness import CSRF_INPUT, TOKEN


def paused(db: psycopg.Connection) -> bool:
    row = db.execute("select count(*) as n from procrastinate_queue_stats where paused").fetchone()
    return bool(row["n"])


async def csrf_token(client: httpx.AsyncClient) -> str:
    """The CSRF token of this client's nonce cookie, as a page gives it."""
    page = await client.get("/login")
    match = CSRF_INPUT.search(page.text)
    assert match, page.text
    return match.group(1)


BEARER = {"Authorization": f"Bearer {TOKEN}"}


async def test_an_action_needs_the_token_and_the_csrf_token(
    base_url: str, db: psycopg.Connection
):
    async with httpx.AsyncClient(base_url=base_url) as client:
        csrf = await csrf_token(client)
        without_token = await client.post("/queues/pause", data={"queue": "q", "csrf_token": csrf})
        assert without_token.status_code == 401
        wrong_token = await client.post(
            "/queues/pause", data={"queue": "q", "csrf_token": csrf},
            headers={"Authorization": "Bearer nope"},
        )
        assert wrong_token.status_code == 401
        without_csrf = await client.post("/queues/pause", data={"queue": "q"}, headers=BEARER)
        assert without_csrf.status_code == 403
        assert "CSRF" in without_csrf.text
        wrong_csrf = await client.post(
            "/queues/pause", data={"queue": "q", "csrf_token": csrf[:-2] + "00"}, headers=BEARER
        )
        assert wrong_csrf.status_code == 403
        as_get = await client.get("/queues/pause", headers=BEARER)
        assert as_get.status_code == 405
        assert not paused(db)

        both = await client.post(
            "/queues/pause", data={"queue": "q", "csrf_token": csrf}, headers=BEARER
        )
        assert both.status_code == 303
        assert paused(db)


async def test_a_csrf_token_belongs_to_its_browser(base_url: str, db: psycopg.Connection):
    async with httpx.AsyncClient(base_url=base_url) as victim:
        stolen_from_another_browser = await csrf_token(victim)
    async with httpx.AsyncClient(base_url=base_url) as client:
        await csrf_token(client)  # a nonce of its own
        response = await client.post(
            "/queues/pause", data={"queue": "q", "csrf_token": stolen_from_another_browser},
            headers=BEARER,
        )
    assert response.status_code == 403
    assert not paused(db)


async def test_signing_in_needs_the_right_token(base_url: str):
    async with httpx.AsyncClient(base_url=base_url) as client:
        csrf = await csrf_token(client)
        wrong = await client.post("/login", data={"token": "guess", "csrf_token": csrf})
        assert wrong.status_code == 403
        assert "procrastinate_dashboard_login" not in client.cookies
        right = await client.post("/login", data={"token": TOKEN, "csrf_token": csrf})
        assert right.status_code == 303
        # the cookie proves the sign-in without holding the token
        assert client.cookies["procrastinate_dashboard_login"] not in ("", TOKEN)
        pause = await client.post("/queues/pause", data={"queue": "q", "csrf_token": csrf})
        assert pause.status_code == 303


async def test_a_read_only_dashboard_refuses_every_action(
    read_only_url: str, db: psycopg.Connection
):
    async with httpx.AsyncClient(base_url=read_only_url) as client:
        response = await client.post("/queues/pause", data={"queue": "q"}, headers=BEARER)
    assert response.status_code == 403
    assert not paused(db)


async def test_pages_forbid_inline_scripts_and_framing(base_url: str):
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get("/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"


def test_actions_without_a_credential_are_refused_at_construction(app: procrastinate.App):
    with pytest.raises(ValueError, match="credential"):
        dashboard.app(app, read_only=False)
