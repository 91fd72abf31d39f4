"""Fencing: a worker paused past stalled_worker_timeout, declared dead and
rescued, cannot overwrite the outcome of the job's next run when it wakes."""

from __future__ import annotations

import json
import signal
import time

from chaos_harness import STALLED, Chaos


def test_paused_worker_cannot_overwrite_the_new_run(chaos: Chaos):
    # The first run (attempt 0) fails, the second succeeds: whichever
    # outcome is recorded shows whose report the database accepted.
    chaos.query(
        "select procrastinate_defer_jobs_v2(%s::jsonb)",
        [json.dumps([{"task_name": "work", "lock": "L",
                      "args": {"seconds": STALLED + 1.0, "fail_first_attempt": True}}])],
    )
    first = chaos.start_worker()
    chaos.wait_registered(1)
    assert chaos.busy_worker() is first
    first.process.send_signal(signal.SIGSTOP)
    try:
        second = chaos.start_worker()
        # The second worker rescues the job and runs it to the end.
        chaos.wait_final(20)
        job = chaos.query("select status::text as status, attempts from procrastinate_jobs")[0]
        assert job == {"status": "succeeded", "attempts": 2}, chaos.log_text()
        runs = chaos.query("select pid, ended_at from chaos_runs order by started_at")
        assert [run["pid"] for run in runs] == [first.process.pid, second.process.pid]
    finally:
        first.process.send_signal(signal.SIGCONT)
    # The first worker wakes: its run ends (failing), its report is refused.
    deadline = time.monotonic() + 15
    while "was not recorded" not in first.log.read_text():
        assert time.monotonic() < deadline, chaos.log_text()
        time.sleep(0.1)
    job = chaos.query(
        "select status::text as status, attempts, last_error from procrastinate_jobs"
    )[0]
    assert job["status"] == "succeeded"
    assert "first run" not in (job["last_error"] or "")
    log = first.log.read_text()
    assert "registered again" in log or "was not recorded" in log
    # The paused worker carries on: it can still run new jobs.
    chaos.defer(3, seconds=(0.1, 0.2))
    chaos.wait_final(15)
    summary = chaos.report()
    chaos.stop_all()
    assert summary["stuck"] == 0 and summary["lost"] == 0
    assert summary["lock_overlaps"] == 1  # the paused run and the rescue run: expected here
