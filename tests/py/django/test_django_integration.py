"""procrastinate.contrib.django in a real Django project, on a real database:
deferring from a view inside its transaction, the worker of manage.py, the
admin, the read-only models, the management command."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from procrastinate import exceptions

from django_helpers import manage


def job_rows(db) -> list[tuple]:
    return db.execute(
        "select id, task_name, status::text, args from procrastinate_jobs order by id"
    ).fetchall()


# --- the app --------------------------------------------------------------------------


def test_the_app_is_built_when_django_is_ready(django_database):
    from django.apps import apps
    from shop import procrastinate_setup

    from procrastinate.contrib.django import DjangoApp, DjangoConnector, app, procrastinate_app

    real = procrastinate_app.current_app
    assert isinstance(real, DjangoApp)
    assert isinstance(real.connector, DjangoConnector)
    assert apps.get_app_config("procrastinate").app is real
    # Tasks of shop/tasks.py were found by autodiscovery.
    assert {"shop.tasks.ship_order", "shop.tasks.ship_order_async", "shop.fail"} <= set(app.tasks)
    # Settings: PROCRASTINATE_WORKER_DEFAULTS, PROCRASTINATE_ON_APP_READY.
    assert real.worker_defaults["fetch_job_polling_interval"] == 0.5
    assert procrastinate_setup.READY_APPS == [real]


def test_the_pending_app_collects_tasks_and_refuses_the_rest():
    from procrastinate.contrib.django import exceptions as django_exceptions
    from procrastinate.contrib.django.procrastinate_app import PendingApp

    pending = PendingApp()

    @pending.task(name="early")
    def early():
        pass

    assert "early" in pending.tasks
    with pytest.raises(django_exceptions.DjangoNotReady, match="ready"):
        early.defer()
    with pytest.raises(django_exceptions.DjangoNotReady):
        pending.job_manager  # noqa: B018


def test_tasks_declared_before_ready_move_to_the_app():
    import procrastinate
    from procrastinate.contrib.django import procrastinate_app

    saved = procrastinate_app.current_app
    try:
        procrastinate_app.current_app = procrastinate_app.PendingApp()

        @procrastinate_app.app.periodic(cron="0 * * * *")
        @procrastinate_app.app.task(name="early")
        def early(timestamp):
            pass

        new_app = procrastinate.App(connector=procrastinate.PsycopgConnector())
        procrastinate_app.set_app(new_app)
        assert procrastinate_app.is_ready()
        assert new_app.tasks["early"] is early and early.blueprint is new_app
        assert [p.task for p in new_app.periodic_registry.periodic_tasks.values()] == [early]
        assert procrastinate_app.app.tasks is new_app.tasks
    finally:
        procrastinate_app.current_app = saved


def test_connector_params_name_the_django_database(django_database):
    from procrastinate.contrib.django import connector_params

    params = connector_params()
    assert params["dbname"] == django_database
    assert "cursor_factory" not in params and "context" not in params


# --- deferring inside Django's transaction -----------------------------------------


def test_a_view_defers_inside_its_transaction(django_db):
    from django.test import Client

    response = Client().post("/orders/", {"item": "book"})
    assert response.status_code == 200
    body = response.json()
    assert job_rows(django_db) == [
        (body["job_id"], "shop.tasks.ship_order", "todo", {"order_id": body["order_id"]})
    ]


def test_a_failing_view_leaves_no_job(django_db):
    from django.test import Client

    with pytest.raises(RuntimeError):
        Client().post("/orders/", {"item": "book", "fail": "1"})
    assert job_rows(django_db) == []
    assert django_db.execute("select count(*) from shop_order").fetchone() == (0,)


def test_a_refused_defer_does_not_break_the_transaction(django_db):
    from django.test import Client

    client = Client()
    first = client.post("/orders/", {"item": "a", "queueing_lock": "shipping"}).json()
    second = client.post("/orders/", {"item": "b", "queueing_lock": "shipping"}).json()
    assert first["job_id"] is not None and second["job_id"] is None
    # The second order was committed although its defer was refused.
    assert django_db.execute("select item from shop_order order by id").fetchall() == [
        ("a",),
        ("b",),
    ]
    assert len(job_rows(django_db)) == 1


def test_the_job_is_visible_only_to_the_transaction_until_it_commits(django_db):
    from django.db import transaction
    from shop.tasks import ship_order

    from procrastinate.contrib.django.models import ProcrastinateJob

    with transaction.atomic():
        job_id = ship_order.defer(order_id=1)
        # Django's connection sees it, another connection does not.
        assert ProcrastinateJob.objects.filter(id=job_id).exists()
        assert job_rows(django_db) == []
    assert [row[0] for row in job_rows(django_db)] == [job_id]


def test_job_manager_and_async_defer_through_django(django_db):
    from shop.tasks import ship_order

    from procrastinate.contrib.django import app

    job_id = asyncio.run(ship_order.defer_async(order_id=7))
    (job,) = app.job_manager.list_jobs()
    assert (job.id, job.task_kwargs, job.status) == (job_id, {"order_id": 7}, "todo")
    assert asyncio.run(app.job_manager.list_jobs_async())[0].task_kwargs == {"order_id": 7}
    assert app.job_manager.list_queues()[0]["name"] == "orders"
    assert app.job_manager.cancel_job_by_id(job_id)
    assert app.job_manager.get_job_status(job_id).value == "cancelled"
    with pytest.raises(exceptions.JobNotFound):
        app.job_manager.get_job_status(4242)
    with pytest.raises(exceptions.UnserializableArguments):
        ship_order.defer(order_id=object())
    assert app.check_connection()
    # Operations in one transaction (sync and async forms).
    assert app.connector.check() is False
    assert asyncio.run(app.job_manager.get_stalled_jobs()) == []


def test_the_connector_is_an_async_connector_on_djangos_connection(django_db):
    """As procrastinate 3.x's, the DjangoConnector is a BaseAsyncConnector
    (users' code and the procrastinate command check it): its async queries
    and transactions run on Django's connection, through sync_to_async."""
    from asgiref.sync import sync_to_async
    from shop.tasks import ship_order

    from procrastinate import cli, connector
    from procrastinate.contrib.django import app, procrastinate_app
    from procrastinate.contrib.django.models import ProcrastinateJob

    django_connector = app.connector
    assert isinstance(django_connector, connector.BaseAsyncConnector)
    # the procrastinate command takes the project's app (it refuses sync connectors)
    path = "procrastinate.contrib.django.procrastinate_app.current_app"
    assert cli.load_app(path) is procrastinate_app.current_app
    # its synchronous side, what sync operations run on, is a sync connector
    sync_side = django_connector.get_sync_connector()
    assert not isinstance(sync_side, connector.BaseAsyncConnector)
    assert sync_side.execute_query_one("select %(n)s::int as n", n=1) == {"n": 1}

    class Rollback(Exception):
        pass

    async def in_django() -> tuple:
        row = await django_connector.execute_query_one_async(
            "select current_database() as name, %(n)s::int + 1 as n", n=41
        )
        installed = await django_connector.check()  # awaitable inside a loop
        job_id = await ship_order.defer_async(order_id=5)
        try:
            async with django_connector.transaction_async():
                doomed = await ship_order.defer_async(order_id=6)
                # Django's ORM, in the same thread and transaction, sees it;
                # another connection does not
                seen = await sync_to_async(ProcrastinateJob.objects.filter(id=doomed).exists)()
                assert seen and job_rows(django_db) == [
                    (job_id, "shop.tasks.ship_order", "todo", {"order_id": 5})
                ]
                raise Rollback
        except Rollback:
            pass
        listed = await app.job_manager.list_jobs_async()
        return row, installed, [job.id for job in listed]

    row, installed, listed = asyncio.run(in_django())
    assert row == {"name": django_db.info.dbname, "n": 42}
    assert installed is False  # already there: Django's migrations installed it
    assert listed == [line[0] for line in job_rows(django_db)] == [1]

    async def ignore(*, channel, notification):
        pass

    # no LISTEN on Django's connection: workers get a connector of their own
    with pytest.raises(exceptions.ConnectorException, match="cannot LISTEN"):
        asyncio.run(app.job_manager.listen_for_jobs(on_notification=ignore))


# --- the worker -------------------------------------------------------------------------


@pytest.mark.subprocess
def test_manage_py_worker_one_shot_runs_the_deferred_job(django_db, django_database):
    from django.test import Client

    body = Client().post("/orders/", {"item": "lamp"}).json()

    result = manage(django_database, "procrastinate", "worker", "--one-shot")

    assert result.returncode == 0, result.stderr
    assert "ended with status: Success" in result.stderr
    assert job_rows(django_db)[0][2] == "succeeded"
    order = Client().get(f"/orders/{body['order_id']}/").json()
    assert order["status"] == "shipped"
    # The worker unregistered itself.
    assert django_db.execute("select count(*) from procrastinate_workers").fetchone() == (0,)


@pytest.mark.subprocess
def test_manage_py_worker_with_processes_runs_the_command_again(django_db, django_database):
    # The supervisor starts each worker process as manage.py procrastinate worker.
    from django.test import Client

    for item in ("lamp", "desk"):
        assert Client().post("/orders/", {"item": item}).status_code == 200

    result = manage(
        django_database, "procrastinate", "worker", "--processes", "2", "--one-shot"
    )

    assert result.returncode == 0, result.stderr
    assert "Launching 2 worker processes" in result.stderr
    for name in ("worker-1", "worker-2"):
        assert f"Started worker process {name}" in result.stderr
    assert [row[2] for row in job_rows(django_db)] == ["succeeded"] * 2
    assert django_db.execute("select count(*) from procrastinate_workers").fetchone() == (0,)


def test_call_command_worker_runs_sync_and_async_tasks(django_db):
    from django.core.management import call_command
    from shop.models import Order
    from shop.tasks import fail, ship_order, ship_order_async

    from procrastinate.contrib.django import DjangoConnector, app

    first, second = Order.objects.create(item="a"), Order.objects.create(item="b")
    ship_order.defer(order_id=first.id)
    ship_order_async.defer(order_id=second.id)
    fail.defer(message="out of stock")

    call_command("procrastinate", "worker", "--one-shot", "--no-listen-notify")

    assert [row[2] for row in job_rows(django_db)] == ["succeeded", "succeeded", "failed"]
    assert set(Order.objects.values_list("status", flat=True)) == {"shipped", "shipped async"}
    assert (
        django_db.execute("select last_error from procrastinate_jobs where id = 3")
        .fetchone()[0]
        .endswith("ValueError: out of stock")
    )
    # The Django connector is back after the command.
    assert isinstance(app.connector, DjangoConnector)


# --- admin --------------------------------------------------------------------------------


def listed(response) -> list[int]:
    """Ids of the jobs on an admin changelist page."""
    return [job.id for job in response.context["cl"].result_list]


@pytest.mark.subprocess
def test_admin_lists_filters_and_shows_jobs(admin_client, django_db, django_database):
    from shop.tasks import fail, ship_order

    shipped_id = ship_order.configure(store_result=True).defer(order_id=1)
    failed_id = fail.defer(message="out of <stock>")
    assert manage(django_database, "procrastinate", "worker", "--one-shot").returncode == 0

    assert admin_client.get("/admin/").status_code == 200
    changelist = admin_client.get("/admin/procrastinate/procrastinatejob/")
    assert changelist.status_code == 200
    page = changelist.content.decode()
    assert "shop.tasks.ship_order" in page and "shop.fail" in page
    assert "ValueError: out of &lt;stock&gt;" in page

    assert listed(changelist) == [failed_id, shipped_id]

    filtered = admin_client.get("/admin/procrastinate/procrastinatejob/?status__exact=failed")
    assert filtered.status_code == 200 and listed(filtered) == [failed_id]
    by_queue = admin_client.get("/admin/procrastinate/procrastinatejob/?queue_name=orders")
    assert by_queue.status_code == 200 and listed(by_queue) == [shipped_id]
    searched = admin_client.get("/admin/procrastinate/procrastinatejob/?q=ship_order")
    assert searched.status_code == 200 and listed(searched) == [shipped_id]

    detail = admin_client.get(f"/admin/procrastinate/procrastinatejob/{failed_id}/change/")
    assert detail.status_code == 200
    detail_page = detail.content.decode()
    for event in ("deferred", "started", "failed"):
        assert event in detail_page
    assert "ValueError: out of &lt;stock&gt;" in detail_page
    assert "Traceback (most recent call last)" in detail_page  # the failure's traceback

    shipped = admin_client.get(f"/admin/procrastinate/procrastinatejob/{shipped_id}/change/")
    assert shipped.status_code == 200
    assert "&quot;shipped 1&quot;" in shipped.content.decode()  # the stored result

    for page_url in (
        "/admin/procrastinate/procrastinateworker/",
        "/admin/procrastinate/procrastinateperiodicdefer/",
    ):
        assert admin_client.get(page_url).status_code == 200
    # Read-only: no add page.
    assert admin_client.get("/admin/procrastinate/procrastinatejob/add/").status_code == 403


@pytest.mark.subprocess
def test_admin_retry_and_cancel_actions(admin_client, django_db, django_database):
    from shop.tasks import fail, ship_order

    failed_id = fail.defer(message="boom")
    assert manage(django_database, "procrastinate", "worker", "--one-shot").returncode == 0
    waiting_id = ship_order.defer(order_id=1)
    url = "/admin/procrastinate/procrastinatejob/"

    response = admin_client.post(
        url, {"action": "retry", "_selected_action": [failed_id, waiting_id]}, follow=True
    )
    assert response.status_code == 200
    messages = [str(message) for message in response.context["messages"]]
    assert messages == [
        f"Retried: #{failed_id}",
        f"Not retried (their status does not allow it): #{waiting_id}",
    ]

    response = admin_client.post(
        url, {"action": "cancel", "_selected_action": [waiting_id]}, follow=True
    )
    assert response.status_code == 200
    statuses = dict(django_db.execute("select id, status::text from procrastinate_jobs").fetchall())
    assert statuses == {failed_id: "todo", waiting_id: "cancelled"}
    # The retry went through procrastinate_retry_job: it left an event.
    events = django_db.execute(
        "select type::text from procrastinate_events where job_id = %s order by id", [failed_id]
    ).fetchall()
    assert ("retried",) in events


def test_actions_need_the_change_permission(django_db):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.test import Client
    from shop.tasks import ship_order

    user_model = get_user_model()
    user = user_model.objects.filter(username="viewer").first()
    if user is None:
        user = user_model.objects.create_user("viewer", password="password", is_staff=True)
        user.user_permissions.add(Permission.objects.get(codename="view_procrastinatejob"))
    client = Client()
    client.force_login(user)
    job_id = ship_order.defer(order_id=1)
    page = client.get("/admin/procrastinate/procrastinatejob/")
    assert page.status_code == 200
    assert "shop.tasks.ship_order" in page.content.decode()
    assert 'value="cancel"' not in page.content.decode()
    client.post(
        "/admin/procrastinate/procrastinatejob/",
        {"action": "cancel", "_selected_action": [job_id]},
    )
    assert job_rows(django_db)[0][2] == "todo"


# --- models -----------------------------------------------------------------------------


def test_models_are_read_only(django_db):
    from shop.tasks import ship_order

    from procrastinate.contrib.django import exceptions as django_exceptions
    from procrastinate.contrib.django import models

    job_id = ship_order.defer(order_id=3)
    job = models.ProcrastinateJob.objects.get(id=job_id)
    assert job.args == {"order_id": 3} and job.status == "todo"
    assert job.procrastinate_job.call_string == f"shop.tasks.ship_order[{job_id}](order_id=3)"
    assert str(job) == job.procrastinate_job.call_string
    assert [event.type for event in models.ProcrastinateEvent.objects.filter(job=job)] == [
        "deferred"
    ]
    for attempt in (
        job.save,
        job.delete,
        lambda: models.ProcrastinateJob.objects.filter(id=job_id).update(priority=3),
        lambda: models.ProcrastinateJob.objects.filter(id=job_id).delete(),
        lambda: models.ProcrastinateJob.objects.create(task_name="x"),
    ):
        with pytest.raises(django_exceptions.ReadOnlyModel):
            attempt()
    assert job_rows(django_db)[0][2] == "todo"


def test_models_are_writable_when_the_setting_says_so(django_db):
    """PROCRASTINATE_READONLY_MODELS = False (procrastinate 3.x's setting):
    the ORM creates a waiting job with the table's defaults, which a worker
    then runs, and updates it."""
    from django.test import override_settings

    from procrastinate.contrib.django import app, models
    from procrastinate.testing import run_deferred_jobs

    with override_settings(PROCRASTINATE_READONLY_MODELS=False):
        job = models.ProcrastinateJob.objects.create(
            task_name="shop.tasks.ship_order", queue_name="orders", args={"order_id": 9}
        )
        models.ProcrastinateJob.objects.filter(id=job.id).update(priority=5)
    row = django_db.execute(
        "select status::text, attempts, priority, created_at is not null as dated,"
        " rescue_count from procrastinate_jobs where id = %s",
        [job.id],
    ).fetchone()
    assert row == ("todo", 0, 5, True, 0)
    (outcome,) = run_deferred_jobs(app)
    assert (outcome.id, outcome.result) == (job.id, "shipped 9")


# --- the management command ----------------------------------------------------------------


def test_command_defer_healthchecks_and_shell(django_db, capsys):
    from django.core.management import call_command

    call_command("procrastinate", "defer", "shop.fail", json.dumps({"message": "x"}))
    assert job_rows(django_db) == [(1, "shop.fail", "todo", {"message": "x"})]

    call_command("procrastinate", "healthchecks")
    out = capsys.readouterr().out
    # procrastinate 3.x's lines, which scripts may read, and the schema's
    assert out.splitlines()[-5:] == [
        "Database connection: OK",
        "Migrations: OK",
        "Schema version: OK",
        "Default Django Procrastinate App: OK",
        "Worker App: OK",
    ]

    call_command("procrastinate", "shell", "list_jobs")
    assert "#1 shop.fail on default - [todo]" in capsys.readouterr().out

    with pytest.raises(SystemExit) as excinfo:
        call_command("procrastinate", "defer", "shop.unknown")
    assert excinfo.value.code == 1


def test_sqlmigrate_shows_the_sql_file(django_database):
    from django.core.management import call_command

    out = io.StringIO()
    call_command("sqlmigrate", "procrastinate", "0001_create_schema", stdout=out)
    assert "create table procrastinate_jobs" in out.getvalue()


def test_the_worker_connector_is_a_pool_on_the_same_database(django_database):
    from procrastinate import psycopg_connector
    from procrastinate.contrib.django import app

    worker_connector = app.connector.get_worker_connector(min_size=1)
    assert isinstance(worker_connector, psycopg_connector.PsycopgConnector)
    assert worker_connector._pool_args["kwargs"]["dbname"] == django_database
    assert worker_connector._pool_args["min_size"] == 1


def test_run_deferred_jobs_with_the_django_app(django_db):
    """procrastinate.testing's helper on the project's app: a worker with a
    pool on Django's database (the data must be committed)."""
    from django.test import Client
    from shop.models import Order

    from procrastinate import testing
    from procrastinate.contrib.django import DjangoConnector, app

    body = Client().post("/orders/", {"item": "chair"}).json()

    (outcome,) = testing.run_deferred_jobs(app)

    assert (outcome.id, outcome.result) == (body["job_id"], f"shipped {body['order_id']}")
    assert Order.objects.get(id=body["order_id"]).status == "shipped"
    assert isinstance(app.connector, DjangoConnector)


# --- system checks ------------------------------------------------------------------


def _procrastinate_checks() -> list[tuple[str, str, str | None]]:
    from django.core import checks

    return [
        (message.id, message.msg, message.hint)
        for message in checks.run_checks()
        if (message.id or "").startswith("procrastinate.")
    ]


def test_the_system_checks_name_misconfigurations(django_db):
    import warnings

    from django.conf import settings
    from django.test import override_settings

    assert _procrastinate_checks() == []
    with override_settings(PROCRASTINATE_AUTODISCOVER_MODULE="jobs"):
        assert _procrastinate_checks() == [(
            "procrastinate.W001",
            "PROCRASTINATE_AUTODISCOVER_MODULE is not a procrastinate setting: it is ignored",
            "Did you mean PROCRASTINATE_AUTODISCOVER_MODULE_NAME?",
        )]
    with override_settings(PROCRASTINATE_WORKER_DEFAULTS={"concurency": 2}):
        assert _procrastinate_checks() == [(
            "procrastinate.E003",
            "PROCRASTINATE_WORKER_DEFAULTS has 'concurency', which is not a worker option",
            "Did you mean concurrency?",
        )]
    with override_settings(PROCRASTINATE_DATABASE_ALIAS="defualt"):
        assert [m[:2] for m in _procrastinate_checks()] == [(
            "procrastinate.E001",
            "PROCRASTINATE_DATABASE_ALIAS is 'defualt', which DATABASES does not have",
        )]
    lite = {**settings.DATABASES, "lite": {"ENGINE": "django.db.backends.sqlite3"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overriding DATABASES: only read here
        with override_settings(DATABASES=lite, PROCRASTINATE_DATABASE_ALIAS="lite"):
            assert [m[0] for m in _procrastinate_checks()] == ["procrastinate.E002"]
