"""A procrastinate 3.x application, run ONLY with the throwaway virtualenv that
holds procrastinate 3.10 from PyPI (never imported by our tests).

    procrastinate --app upstream_app.app schema --apply
    procrastinate --app upstream_app.app worker --one-shot
    python upstream_app.py populate   jobs in every state, through 3.x's own API;
                                      prints {role: job id} as JSON
    python upstream_app.py exercise   what a 3.x worker/producer does, on a
                                      database already in the conversion's pre
                                      phase; prints what it saw as JSON

The database is libpq's (PGDATABASE, PGHOST, ...). Task names are explicit
(upstream_app.<function>), the same whether this file runs as a script or is
imported by the CLI; our side registers the same names.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import sys

import procrastinate

app = procrastinate.App(connector=procrastinate.PsycopgConnector())


@app.task(name="upstream_app.ok", queue="default")
def ok(x: int = 0) -> int:
    return x


@app.task(name="upstream_app.boom", queue="default")
def boom() -> None:
    raise ValueError("boom")


@app.task(
    name="upstream_app.flaky",
    queue="default",
    retry=procrastinate.RetryStrategy(max_attempts=5, wait=3600),
)
def flaky() -> None:
    raise ValueError("flaky")


@app.periodic(cron="0 0 * * *", periodic_id="nightly")
@app.task(name="upstream_app.nightly", queue="periodic")
def nightly(timestamp: int) -> int:
    return timestamp


async def _run_worker(queues: list[str]) -> None:
    await app.run_worker_async(
        queues=queues, wait=False, install_signal_handlers=False, listen_notify=False
    )


async def populate() -> dict[str, int]:
    jm = app.job_manager
    ids: dict[str, int] = {}
    # Run through a 3.x worker first, on a queue of their own.
    ids["succeeded"] = await ok.configure(queue="run_first").defer_async(x=1)
    ids["failed"] = await boom.configure(queue="run_first").defer_async()
    ids["retried"] = await boom.configure(queue="run_first").defer_async()
    ids["retry_scheduled"] = await flaky.configure(queue="run_first").defer_async()
    await _run_worker(["run_first"])
    # failed -> todo by hand (a 'retried' event); runs again on our side
    await jm.retry_job_by_id_async(
        ids["retried"], retry_at=datetime.datetime.now(datetime.timezone.utc), queue="default"
    )

    ids["todo"] = await ok.defer_async(x=2)
    ids["todo_args"] = await ok.configure(priority=5).defer_async(x=3)
    ids["todo_locked_first"] = await ok.configure(lock="L1").defer_async(x=4)
    ids["todo_locked_second"] = await ok.configure(lock="L1").defer_async(x=5)
    ids["todo_queueing_lock"] = await ok.configure(queueing_lock="QL1").defer_async(x=6)
    ids["todo_other_queue"] = await ok.configure(queue="other").defer_async(x=7)
    ids["scheduled"] = await ok.configure(schedule_in={"hours": 2}, queue="default").defer_async(
        x=8
    )
    ids["cancelled"] = await ok.defer_async(x=9)
    await jm.cancel_job_by_id_async(ids["cancelled"])

    # doing: fetched by a (registered) 3.x worker that never reports
    worker_id = await jm.register_worker()
    ids["doing_locked"] = await ok.configure(lock="L2", queue="doing").defer_async(x=10)
    ids["doing_abort_requested"] = await ok.configure(queue="doing").defer_async(x=11)
    ids["aborted"] = await ok.configure(queue="doing").defer_async(x=12)
    for _ in range(3):
        job = await jm.fetch_job(queues=["doing"], worker_id=worker_id)
        assert job is not None
    await jm.cancel_job_by_id_async(ids["doing_abort_requested"], abort=True)
    await jm.cancel_job_by_id_async(ids["aborted"], abort=True)
    await jm.finish_job_by_id_async(
        ids["aborted"], status=procrastinate.jobs.Status.ABORTED, delete_job=False
    )
    ids["worker"] = worker_id

    # a periodic tick, deferred the way 3.x workers do it
    job = nightly.configure(task_kwargs={"timestamp": 1_700_000_000})
    ids["periodic"] = await jm.defer_periodic_job(
        job.job, periodic_id="nightly", defer_timestamp=1_700_000_000
    )
    return ids


async def exercise() -> dict[str, object]:
    """A 3.x producer and worker on a database in the conversion's pre phase."""
    jm = app.job_manager
    seen: dict[str, object] = {}
    seen["deferred"] = await ok.configure(queue="compat").defer_async(x=100)
    seen["deferred_batch"] = await ok.configure(queue="compat").batch_defer_async(
        {"x": 101}, {"x": 102}
    )
    await ok.configure(queue="compat", queueing_lock="QL-compat").defer_async(x=103)
    try:
        await ok.configure(queue="compat", queueing_lock="QL-compat").defer_async(x=104)
        seen["already_enqueued"] = False
    except procrastinate.exceptions.AlreadyEnqueued:
        seen["already_enqueued"] = True
    worker_id = await jm.register_worker()
    await jm.update_heartbeat(worker_id)
    job = await jm.fetch_job(queues=["compat"], worker_id=worker_id)
    seen["fetched"] = job.id if job else None
    if job:
        await jm.finish_job(job, status=procrastinate.jobs.Status.SUCCEEDED, delete_job=False)
    # abort: requested on a running job, then reported aborted
    to_abort = await ok.configure(queue="compat_abort").defer_async(x=106)
    running = await jm.fetch_job(queues=["compat_abort"], worker_id=worker_id)
    assert running is not None and running.id == to_abort
    seen["abort_requested"] = await jm.cancel_job_by_id_async(to_abort, abort=True)
    seen["to_abort"] = list(await jm.list_jobs_to_abort_async())
    seen["aborted"] = to_abort
    await jm.finish_job_by_id_async(
        to_abort, status=procrastinate.jobs.Status.ABORTED, delete_job=False
    )
    # a failure retried by 3.x's retry strategy (procrastinate_retry_job_v2)
    seen["to_retry"] = await flaky.configure(queue="compat_retry").defer_async()
    to_cancel = await ok.configure(queue="compat_cancel").defer_async(x=105)
    seen["cancelled"] = await jm.cancel_job_by_id_async(to_cancel)
    seen["status"] = (await jm.get_job_status_async(to_cancel)).value
    seen["pruned"] = await jm.prune_stalled_workers(seconds_since_heartbeat=3600)
    await jm.unregister_worker(worker_id)
    seen["periodic"] = await jm.defer_periodic_job(
        nightly.configure(task_kwargs={"timestamp": 1_700_086_400}).job,
        periodic_id="compat",  # another id: "nightly"'s older tick stays
        defer_timestamp=1_700_086_400,
    )
    seen["jobs"] = [j.id for j in await jm.list_jobs_async(queue="compat")]
    await _run_worker(["compat_retry"])
    return seen


async def main(command: str) -> None:
    async with app.open_async():
        result = await {"populate": populate, "exercise": exercise}[command]()
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
