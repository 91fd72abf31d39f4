"""Unit tests of jobs.py."""

from __future__ import annotations

import datetime

import attr
import pytest

from procrastinate import jobs

UTC = datetime.timezone.utc


def make_job(**changes):
    values = dict(
        id=3,
        queue="q",
        lock="l",
        queueing_lock=None,
        task_name="ns:task",
        task_kwargs={"a": 1, "b": "x"},
    )
    values.update(changes)
    return jobs.Job(**values)


def test_job_id_is_an_int_with_id():
    job_id = jobs.JobId(7)
    assert job_id == 7
    assert job_id.id == 7
    assert isinstance(job_id.id, int) and type(job_id.id) is int
    assert f"{job_id}" == str(job_id) == repr(job_id) == "7"
    assert [jobs.JobId(1), jobs.JobId(2)].__repr__() == "[1, 2]"


def test_job_requires_aware_scheduled_at():
    with pytest.raises(ValueError):
        make_job(scheduled_at=datetime.datetime(2030, 1, 1))
    make_job(scheduled_at=datetime.datetime(2030, 1, 1, tzinfo=UTC))


def test_call_string_and_log_context():
    job = make_job(scheduled_at=datetime.datetime(2030, 1, 1, tzinfo=UTC))
    assert job.call_string == "ns:task[3](a=1, b='x')"
    context = job.log_context()
    assert context["scheduled_at"] == "2030-01-01T00:00:00+00:00"
    assert context["call_string"] == job.call_string
    assert job.evaluated_args == {"a": 1, "b": "x"}


def test_asdict_has_upstream_fields():
    assert list(make_job().asdict()) == [
        "id",
        "status",
        "queue",
        "priority",
        "lock",
        "queueing_lock",
        "task_name",
        "task_kwargs",
        "scheduled_at",
        "attempts",
        "abort_requested",
        "worker_id",
    ]


def test_attrs_functions_work_on_a_job_as_on_procrastinates():
    # procrastinate's Job is an attrs class: users' code calls attr.asdict
    # and attr.evolve on it.
    job = make_job()
    assert attr.has(jobs.Job)
    assert attr.asdict(job) == {
        **job.asdict(), "decode_error": None, "store_result": False, "parents": None,
        "headers": None, "waited": None, "limit_key": None, "timeout": None,
    }
    moved = attr.evolve(job, queue="other")
    assert (moved.queue, job.queue) == ("other", "q")
    with pytest.raises(attr.exceptions.FrozenInstanceError):
        job.queue = "changed"  # type: ignore[misc]


def test_evolve_and_from_row():
    job = make_job()
    assert job.evolve(id=4).id == 4 and job.id == 3
    row = {
        "id": 1,
        "status": "todo",
        "queue_name": "q",
        "priority": 2,
        "lock": None,
        "queueing_lock": "ql",
        "task_name": "t",
        "args": {"x": 1},
        "scheduled_at": None,
        "attempts": 1,
        "abort_requested": True,
        "worker_id": 9,
    }
    assert jobs.Job.from_row(row) == jobs.Job(
        id=1,
        status="todo",
        queue="q",
        priority=2,
        lock=None,
        queueing_lock="ql",
        task_name="t",
        task_kwargs={"x": 1},
        attempts=1,
        abort_requested=True,
        worker_id=9,
    )


def test_enums():
    assert [s.value for s in jobs.Status] == [
        "todo",
        "doing",
        "succeeded",
        "failed",
        "cancelled",
        "aborting",
        "aborted",
    ]
    assert [c.value for c in jobs.DeleteJobCondition] == [
        "never",
        "successful",
        "always",
    ]
