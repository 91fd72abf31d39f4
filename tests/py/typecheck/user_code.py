"""A user's module, as the docs show it: type-checked by test_typecheck."""

from __future__ import annotations

import procrastinate
from procrastinate import JobContext
from procrastinate.app import WorkerOptions

app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=""))


@app.task(queue="emails", retry=3)
def send(address: str, subject: str) -> int:
    return len(address) + len(subject)


@app.task(pass_context=True)
async def notify(context: JobContext, user_id: int) -> None:
    assert context.job is not None


def producer() -> int:
    job_id: int = send.defer(address="a@example.org", subject="hi")
    configured = send.configure(lock="user:1", priority=5)
    other: int = configured.defer(address="b@example.org", subject="x")
    return job_id + other


async def async_producer() -> int:
    return await notify.defer_async(user_id=1)


def worker_options() -> WorkerOptions:
    options: WorkerOptions = {"concurrency": 4, "queues": ["emails"]}
    app.run_worker(**options)
    app.run_worker(concurrency=2, wait=False, delete_jobs="successful")
    return options


def names_of_procrastinate_3() -> None:
    from procrastinate import jobs, types

    inserted: jobs.JobInserted = {"type": "job_inserted", "job_id": None}
    abort: jobs.AbortJobRequested = {"type": "abort_job_requested", "job_id": 3}
    job = types.JobToDefer("emails", "send", 0, None, None, {"a": 1}, None)
    assert inserted["job_id"] is None and abort["job_id"] == 3 and job.queue_name == "emails"
