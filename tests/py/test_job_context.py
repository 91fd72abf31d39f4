"""Unit tests of JobContext and the worker's abort hook."""

from __future__ import annotations

import asyncio
import threading
import time

from procrastinate import App, PsycopgConnector, job_context, jobs


def make_context(**changes):
    app = App(connector=PsycopgConnector())

    @app.task(name="my_task")
    def my_task():
        pass

    job = jobs.Job(id=1, queue="q", lock=None, queueing_lock=None, task_name="my_task")
    values = dict(app=app, job=job, start_timestamp=time.time(), worker_queues=["a"])
    values.update(changes)
    return job_context.JobContext(**values)


def test_never_aborted_by_default():
    context = make_context()
    assert not context.should_abort()
    assert context.additional_context == {}
    assert context.task.name == "my_task"
    assert context.queues_display == "queues a"


def test_abort_flag_is_read_from_any_thread():
    flag = job_context.AbortFlag()
    context = make_context(abort_reason=flag.get)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(context.should_abort()))
    thread.start(), thread.join()
    flag.set(job_context.AbortReason.USER_REQUEST)
    flag.set(job_context.AbortReason.SHUTDOWN)  # the first reason stays
    assert seen == [False]
    assert context.should_abort()
    assert context.abort_reason() is job_context.AbortReason.USER_REQUEST


async def test_should_abort_async_and_wait():
    flag = job_context.AbortFlag()
    context = make_context(abort_reason=flag.get)
    assert not await context.should_abort_async()
    asyncio.get_running_loop().call_later(
        0.05, flag.set, job_context.AbortReason.SHUTDOWN
    )
    assert (
        await asyncio.wait_for(flag.wait(poll_interval=0.01), 2)
        is job_context.AbortReason.SHUTDOWN
    )
    assert await context.should_abort_async()


def test_evolve_and_job_result():
    context = make_context()
    assert context.evolve(worker_name="w").worker_name == "w"
    result = job_context.JobResult(start_timestamp=10.0)
    assert result.duration(current_timestamp=12.5) == 2.5
    result.end_timestamp, result.result = 11.0, 42
    assert result.as_dict()["result"] == 42
