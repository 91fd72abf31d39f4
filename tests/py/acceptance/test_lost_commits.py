"""What a failover to a standby that missed the old primary's last commits
leaves behind, made here by rewriting the rows as the standby would have
them (the chaos suite does the real failover, where the timing rarely
hits): a report the worker saw acknowledged and a claim the worker saw
succeed, both gone. The worker compares what it holds with what the
database gives it (worker.reconcile) before its next fetch, and mends both:
no job stays in doing forever, none runs twice at once."""

from __future__ import annotations

import asyncio
import logging

from worker_helpers import Running, job_row, wait_for

LOST_REPORT = """
update procrastinate_jobs
set status = 'doing', worker_id = %(worker_id)s, attempts = 0, finished_at = null
where id = %(job_id)s
"""

LOST_CLAIM = """
update procrastinate_jobs
set status = 'todo', worker_id = null, claim_token = null, started_at = null
where id = %(job_id)s
"""


def messages(caplog, action: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if getattr(r, "action", None) == action]


async def test_a_job_whose_report_was_lost_is_taken_back_and_runs_again(app, db, caplog):
    runs = []

    @app.task(name="quick")
    def quick():
        runs.append(len(runs))

    caplog.set_level(logging.WARNING)
    first = await quick.defer_async()
    running = Running(app, update_heartbeat_interval=0.1, fetch_job_polling_interval=0.1)
    await wait_for(lambda: job_row(db, first)["status"] == "succeeded", "the first run")

    # The standby never received the report: the job is the worker's, in
    # doing, as when it was claimed; the worker is alive, so no rescue.
    db.execute(LOST_REPORT, {"worker_id": running.worker_id, "job_id": first})
    row = await wait_for(
        lambda: (r := job_row(db, first))["attempts"] == 2 and r["status"] == "succeeded" and r,
        "the job taken back and run again",
    )
    await running.stop()

    assert runs == [0, 1]
    assert (row["rescue_count"], row["last_error_types"]) == (1, ["OutcomeLost"])
    assert messages(caplog, "held_job_taken_back") == [
        f"Job {first} was held by this worker in the database, which no longer knew of it "
        "(its outcome was lost, as in a failover): taken back, now todo"
    ]


async def test_a_run_whose_claim_was_lost_stops_and_its_outcome_is_dropped(app, db, caplog):
    started = []
    release_first = asyncio.Event()

    @app.task(name="long")
    async def long():
        started.append(len(started))
        if len(started) == 1:
            await release_first.wait()  # the first run waits until aborted

    caplog.set_level(logging.WARNING)
    job_id = await long.defer_async()
    running = Running(
        app, concurrency=2, update_heartbeat_interval=0.1, fetch_job_polling_interval=0.1
    )
    await wait_for(lambda: started, "the first run")

    # The standby never received the claim: the job waits, nobody's, while
    # the worker runs it. The worker stops that run; the job, claimed
    # again, runs once more, and only the second outcome is recorded.
    db.execute(LOST_CLAIM, {"job_id": job_id})
    row = await wait_for(
        lambda: (r := job_row(db, job_id))["status"] == "succeeded" and r,
        "the job claimed again and run to its end",
    )
    await running.stop()

    assert started == [0, 1]
    assert release_first.is_set() is False  # the first run ended by its abort
    assert (row["attempts"], row["rescue_count"]) == (1, 0)
    (not_ours,) = messages(caplog, "held_job_not_ours")
    assert not_ours == (
        f"Job {job_id} is not this worker's in the database (status todo; its claim was "
        "lost, as in a failover): its run is stopped"
    )
    assert len(messages(caplog, "outcome_dropped")) == 1


async def test_jobs_being_given_back_are_held_until_the_database_has_them(app, db):
    # A release in flight (jobs claimed ahead, given back unstarted) must not
    # look lost to a comparison made meanwhile: it would count an attempt
    # and a rescue for a run that never happened.
    from procrastinate import worker as worker_module
    from procrastinate.worker.release import release_buffered

    job_id = await app.configure_task("anything").defer_async()
    worker = worker_module.Worker(app=app, install_signal_handlers=False)
    state = worker.state
    state.worker_id = await app.job_manager.register_worker_async("w", None, 1)
    (job,) = await app.job_manager.fetch_jobs_async(state.worker_id, None, 1)
    real_release = app.job_manager.release_jobs_async
    called, go_on = asyncio.Event(), asyncio.Event()

    async def slow_release(worker_id, job_ids):
        called.set()
        await go_on.wait()
        return await real_release(worker_id, job_ids)

    app.job_manager.release_jobs_async = slow_release  # type: ignore[method-assign]
    releasing = asyncio.create_task(release_buffered(state, app.job_manager, [job], "test"))
    await called.wait()

    assert job_id in worker.producer.reconciler.held()
    go_on.set()
    await releasing
    assert job_id not in worker.producer.reconciler.held()
    row = job_row(db, job_id)
    assert (row["status"], row["attempts"], row["rescue_count"]) == ("todo", 0, 0)
