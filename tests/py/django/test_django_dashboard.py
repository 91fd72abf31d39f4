"""The web dashboard mounted in the Django test project
(``path("queue/", include(dashboard_urls()))``): Django's sign-in decides who
sees it and who acts, the dashboard's CSRF check still guards its forms,
and it reads and acts on the project's database."""

from __future__ import annotations

import hashlib
import hmac
import re
import urllib.parse
import uuid
from typing import Any

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def client_as(**flags: Any) -> Any:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_user(f"u_{uuid.uuid4().hex[:8]}", password="pw")
    for name, value in flags.items():
        setattr(user, name, value)
    user.save()
    client = Client()
    client.force_login(user)
    return client


def post(client: Any, path: str, form: dict[str, str]) -> Any:
    """A form as the dashboard's pages send it (urlencoded)."""
    return client.post(
        path, urllib.parse.urlencode(form), content_type="application/x-www-form-urlencoded"
    )


def csrf_value(nonce: str) -> str:
    from django.conf import settings

    key = hmac.new(
        settings.SECRET_KEY.encode(), b"procrastinate dashboard csrf", hashlib.sha256
    ).hexdigest()
    return hmac.new(key.encode(), f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


def failed_job(django_db: Any) -> int:
    """A job that ran and failed now (its end records the 'failed' event the
    overview counts)."""
    row = django_db.execute(
        "insert into procrastinate_jobs (queue_name, task_name, status)"
        " values ('orders', 'shop.fail', 'doing') returning id"
    ).fetchone()
    django_db.execute(
        "update procrastinate_jobs set status = 'failed', last_error_types = array['ValueError'],"
        " finished_at = now() where id = %s",
        [row[0]],
    )
    return int(row[0])


def status_of(django_db: Any, job_id: int) -> str:
    row = django_db.execute("select status from procrastinate_jobs where id = %s", [job_id])
    return str(row.fetchone()[0])


def test_anonymous_visitors_are_sent_to_the_login_page(django_db):
    from django.test import Client

    response = Client().get("/queue/jobs")
    assert response.status_code == 302
    assert response["location"] == "/accounts/login/?next=/queue/jobs"
    # nor may a signed-in user who is not staff see it
    response = client_as().get("/queue/")
    assert response.status_code == 302


def test_staff_see_the_pages_under_the_mount_path(django_db):
    job_id = failed_job(django_db)
    client = client_as(is_staff=True)
    overview = client.get("/queue/")
    assert overview.status_code == 200
    text = overview.content.decode()
    assert 'href="/queue/static/dashboard.css"' in text
    assert 'data-queue="orders"' in text
    assert "view only" in text
    assert "content-security-policy" in overview.headers
    page = client.get(f"/queue/jobs/{job_id}").content.decode()
    assert "shop.fail" in page and "Retry" not in page
    assert client.get("/queue/static/charts.js").status_code == 200
    assert client.get("/queue/overview/throughput?range=day").json()["range"] == "day"
    # the nonce cookie of the dashboard's CSRF check is scoped to the mount
    assert overview.cookies["procrastinate_dashboard_csrf"]["path"] == "/queue/"


def test_a_staff_member_without_the_permission_cannot_act(django_db):
    job_id = failed_job(django_db)
    client = client_as(is_staff=True)
    page = client.get("/queue/queues")
    # no form offers an action, so no CSRF value: make the right one, as
    # the dashboard does, so that only the permission is missing
    assert CSRF_INPUT.search(page.content.decode()) is None
    nonce = page.cookies["procrastinate_dashboard_csrf"].value
    token = csrf_value(nonce)
    response = post(client, f"/queue/jobs/{job_id}/retry", {"csrf_token": token})
    assert response.status_code == 401
    assert status_of(django_db, job_id) == "failed"


def test_a_superuser_retries_a_job_with_the_csrf_token_only(django_db):
    job_id = failed_job(django_db)
    client = client_as(is_staff=True, is_superuser=True)
    page = client.get(f"/queue/jobs/{job_id}").content.decode()
    assert "actions allowed" in page
    token = CSRF_INPUT.search(page)
    assert token
    # without the dashboard's CSRF value: refused, nothing changed
    assert post(client, f"/queue/jobs/{job_id}/retry", {}).status_code == 403
    assert status_of(django_db, job_id) == "failed"
    # a value not made for this browser's nonce: refused
    other = client_as(is_staff=True, is_superuser=True)
    other_token = CSRF_INPUT.search(other.get(f"/queue/jobs/{job_id}").content.decode())
    assert other_token and other_token.group(1) != token.group(1)
    response = post(client, f"/queue/jobs/{job_id}/retry", {"csrf_token": other_token.group(1)})
    assert response.status_code == 403
    response = post(client, f"/queue/jobs/{job_id}/retry", {"csrf_token": token.group(1)})
    assert response.status_code == 303
    assert response["location"] == f"/queue/jobs/{job_id}"
    assert status_of(django_db, job_id) == "todo"
