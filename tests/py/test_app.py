"""Tests of App, Blueprint, Task registration and periodic registrations
(no database needed, except where a fixture says so)."""

from __future__ import annotations

import sys
import types

import pytest

import procrastinate
from procrastinate import App, Blueprint, PsycopgConnector, exceptions, periodic, tasks


@pytest.fixture
def bare_app():
    return App(connector=PsycopgConnector())


def test_top_level_names():
    for name in (
        "App",
        "Blueprint",
        "JobContext",
        "PsycopgConnector",
        "SyncPsycopgConnector",
        "BaseConnector",
        "RetryStrategy",
        "BaseRetryStrategy",
        "RetryDecision",
    ):
        assert hasattr(procrastinate, name)
    assert isinstance(procrastinate.__version__, str)
    with pytest.raises(exceptions.MovedElsewhere):
        procrastinate.AiopgConnector()


def test_task_decorator_forms(bare_app):
    @bare_app.task
    def plain(a):
        return a * 2

    @bare_app.task(
        name="named",
        aliases=["old_name"],
        queue="q",
        priority=3,
        lock="l",
        queueing_lock="ql",
        retry=2,
        pass_context=True,
    )
    def configured(context):
        pass

    assert plain.name == f"{__name__}.plain"
    assert plain(a=2) == 4
    assert plain.__name__ == "plain"
    assert bare_app.tasks["named"] is configured is bare_app.tasks["old_name"]
    assert (
        configured.queue,
        configured.priority,
        configured.lock,
        configured.queueing_lock,
        configured.pass_context,
    ) == ("q", 3, "l", "ql", True)
    assert configured.retry_policy["max_attempts"] == 2
    assert plain.retry_policy == {"max_attempts": None}


def test_duplicate_names_are_refused(bare_app):
    @bare_app.task(name="one")
    def one():
        pass

    with pytest.raises(exceptions.TaskAlreadyRegistered):

        @bare_app.task(name="two", aliases=["one"])
        def two():
            pass

    assert "two" not in bare_app.tasks
    with pytest.raises(exceptions.TaskAlreadyRegistered):
        bare_app.add_task_alias(one, "one")
    bare_app.add_task_alias(one, "uno")
    assert bare_app.tasks["uno"] is one


def test_tasks_is_a_writable_dict(bare_app):
    @bare_app.task(name="x")
    def x():
        pass

    bare_app.tasks = {"y": x}
    assert bare_app.configure_task("y", allow_unknown=False).job.task_name == "x"


def test_builtin_tasks_per_app():
    first, second = App(connector=PsycopgConnector()), App(connector=PsycopgConnector())
    for app in (first, second):
        name = "builtin:procrastinate.builtin_tasks.remove_old_jobs"
        assert (
            app.tasks[name] is app.tasks["procrastinate.builtin_tasks.remove_old_jobs"]
        )
        assert app.tasks[name].queue == "builtin"
        assert app.tasks[name].blueprint is app
    assert first.tasks[name] is not second.tasks[name]


def test_blueprint_namespaces(bare_app):
    inner, outer = Blueprint(), Blueprint()

    @inner.task(name="feed", aliases=["nourish"])
    def feed():
        pass

    with pytest.raises(exceptions.UnboundTaskError):
        feed.defer()

    outer.add_tasks_from(inner, namespace="cat")
    bare_app.add_tasks_from(outer, namespace="pets")
    assert feed.name == "pets:cat:feed"
    assert bare_app.tasks["pets:cat:feed"] is feed
    assert bare_app.tasks["pets:cat:nourish"] is feed
    assert feed.blueprint is bare_app
    clash = Blueprint()

    @clash.task(name="cat:feed")
    def other_feed():
        pass

    with pytest.raises(exceptions.TaskAlreadyRegistered):
        bare_app.add_tasks_from(clash, namespace="pets")


def test_periodic_registrations(bare_app):
    bp = Blueprint()

    @bare_app.periodic(cron="*/5 * * * *", periodic_id="a", queue="cronq", priority=4)
    @bare_app.task(name="tick")
    def tick(timestamp):
        pass

    @bp.periodic(cron="0 0 * * * 30")
    @bp.task(name="nightly")
    def nightly(timestamp):
        pass

    bare_app.add_tasks_from(bp, namespace="bp")
    registry = bare_app.periodic_registry.periodic_tasks
    assert registry[("tick", "a")] == periodic.PeriodicTask(
        task=tick,
        cron="*/5 * * * *",
        periodic_id="a",
        configure_kwargs={"queue": "cronq", "priority": 4},
    )
    assert registry[("bp:nightly", "")].cron == "0 0 * * * 30"
    with pytest.raises(exceptions.TaskAlreadyRegistered):
        bare_app.periodic(cron="* * * * *", periodic_id="a")(tick)
    with pytest.raises(ValueError):
        bare_app.periodic(cron="not a cron")
    with pytest.raises(TypeError):
        bare_app.periodic(cron="* * * * *")(lambda timestamp: None)


def test_configure_task_unknown(bare_app):
    @bare_app.task(name="send_email")
    def send_email():
        pass

    deferrer = bare_app.configure_task("something_else", queue="q")
    assert (deferrer.job.task_name, deferrer.job.queue) == ("something_else", "q")
    assert deferrer.retry_policy == {}
    with pytest.raises(exceptions.TaskNotFound, match="Did you mean: send_email"):
        bare_app.configure_task("send_emial", allow_unknown=False)


def test_configure_options(bare_app):
    @bare_app.task(name="t", queue="q", priority=1, lock="l", queueing_lock="ql")
    def t():
        pass

    job = t.configure().job
    assert (job.queue, job.priority, job.lock, job.queueing_lock) == ("q", 1, "l", "ql")
    job = t.configure(
        queue="other",
        priority=-2,
        lock="m",
        queueing_lock="qm",
        task_kwargs={"a": 1},
        schedule_in={"hours": 1},
    ).job
    assert (job.queue, job.priority, job.lock, job.queueing_lock) == (
        "other",
        -2,
        "m",
        "qm",
    )
    assert job.task_kwargs == {"a": 1} and job.scheduled_at is not None
    with pytest.raises(ValueError):
        t.configure(schedule_at=job.scheduled_at, schedule_in={"hours": 1})
    with pytest.raises(TypeError):
        t.configure(queue_name="typo")
    assert t.configure(task_kwargs={"a": 1, "b": 2}).make_new_job(b=3).task_kwargs == {
        "a": 1,
        "b": 3,
    }


def test_middleware_kind_must_match_the_task(bare_app):
    def sync_mw(call_next, context, worker):
        return call_next()

    async def async_mw(call_next, context, worker):
        return await call_next()

    @bare_app.task(task_middleware=[sync_mw])
    def ok_sync():
        pass

    @bare_app.task(task_middleware=[async_mw])
    async def ok_async():
        pass

    with pytest.raises(exceptions.MiddlewareKindMismatch):

        @bare_app.task(task_middleware=[async_mw])
        def bad():
            pass


def test_middleware_compose():
    from procrastinate import middleware

    calls = []

    def outer(call_next, context, worker):
        calls.append("outer")
        return call_next() + 1

    def inner(call_next, context, worker):
        calls.append("inner")
        return call_next() * 10

    composed = middleware.compose([outer, inner], lambda: 4, None, None)
    assert composed() == 41 and calls == ["outer", "inner"]
    assert middleware.compose([], print, None, None) is print


def test_with_connector_and_replace_connector(bare_app):
    @bare_app.task(name="t")
    def t():
        pass

    other = PsycopgConnector()
    copy = bare_app.with_connector(other)
    assert copy.tasks is bare_app.tasks and copy.connector is other
    previous = bare_app.connector
    with bare_app.replace_connector(other) as replaced:
        assert replaced is bare_app
        assert bare_app.connector is other and bare_app.job_manager.connector is other
    assert bare_app.connector is previous and bare_app.job_manager.connector is previous
    assert bare_app.get_connector() is previous


app_for_from_path = App(connector=PsycopgConnector())


def test_from_path():
    assert App.from_path(f"{__name__}.app_for_from_path") is app_for_from_path
    with pytest.raises(exceptions.LoadFromPathError):
        App.from_path(f"{__name__}.test_from_path")


def test_import_paths(bare_app, tmp_path, monkeypatch):
    (tmp_path / "my_extra_tasks_module.py").write_text(
        "import tests_app_holder\n"
        "@tests_app_holder.app.task(name='from_import_path')\n"
        "def f():\n    pass\n"
    )
    holder = types.ModuleType("tests_app_holder")
    holder.app = bare_app
    monkeypatch.setitem(sys.modules, "tests_app_holder", holder)
    monkeypatch.syspath_prepend(str(tmp_path))
    bare_app.import_paths = ["my_extra_tasks_module"]
    bare_app.configure_task("from_import_path", allow_unknown=False)


@pytest.fixture
def fake_worker(monkeypatch):
    created = []

    class Worker:
        def __init__(self, app, **options):
            self.app, self.options = app, options
            created.append(self)

        async def run(self):
            self.ran = True
            self.opened = self.app.connector.is_open_async

    module = types.ModuleType("procrastinate.worker")
    module.Worker = Worker
    monkeypatch.setitem(sys.modules, "procrastinate.worker", module)
    monkeypatch.setattr(procrastinate, "worker", module, raising=False)
    return created


async def test_run_worker_async_merges_defaults(fake_worker):
    app = App(
        connector=PsycopgConnector(), worker_defaults={"concurrency": 3, "name": "a"}
    )
    await app.run_worker_async(name="b", queues=["q"])
    (worker,) = fake_worker
    assert worker.app is app and worker.ran
    assert worker.options == {"concurrency": 3, "name": "b", "queues": ["q"]}


def test_run_worker_opens_the_app(fake_worker, db_dsn):
    app = App(
        connector=PsycopgConnector(conninfo=db_dsn), worker_defaults={"wait": False}
    )
    app.run_worker(concurrency=2)
    (worker,) = fake_worker
    assert worker.opened and worker.options == {"wait": False, "concurrency": 2}
    assert not app.connector.is_open_async


@pytest.mark.parametrize("where", ["options", "worker_defaults"])
async def test_processes_is_a_command_option_only(fake_worker, where):
    defaults = {"processes": 2} if where == "worker_defaults" else {}
    app = App(connector=PsycopgConnector(), worker_defaults=defaults)
    options = {"processes": 2} if where == "options" else {}
    with pytest.raises(TypeError, match=r"procrastinate worker command \(--processes N\)"):
        await app.run_worker_async(**options)
    assert fake_worker == []


def test_configure_task_helper_uses_defaults(bare_app):
    deferrer = tasks.configure_task(name="x", job_manager=bare_app.job_manager)
    assert (deferrer.job.queue, deferrer.job.priority) == ("default", 0)
