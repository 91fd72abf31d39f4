"""An async task blocks its worker's event loop for 8 s (issue 14): the
``block`` task of chaos_app calls time.sleep inside ``async def``, the
mistake a worker must survive.

The worker is alive, only its loop is stuck: its heartbeat must go on (from
a thread), so that no other worker takes its jobs back; nothing runs twice.
And the worker must say which task held the loop, so that the mistake can
be found.
"""

from __future__ import annotations

import re

from chaos_harness import Chaos, check_cell

BLOCK_SECONDS = 8.0
#: A warning line naming the task ("block" as a word, not "blocked") and
#: the event loop, after the time the line starts with (chaos_harness's
#: --log-format).
WARNING = re.compile(
    r"^(?:\S+ \S+ )?WARNING:.*(\bblock\b.*\bloop\b|\bloop\b.*\bblock\b)", re.M | re.I
)


def test_async_task_blocking_the_event_loop(chaos: Chaos, record_property):
    chaos.defer(20, locks=4, seconds=(0.1, 0.5))
    # One lock for both: never two blocked loops at once, so that a worker
    # is always free to take jobs back (and must not).
    blockers = chaos.defer_jobs([
        {"task_name": "block", "args": {"seconds": BLOCK_SECONDS}, "lock": "block"}
        for _ in range(2)
    ])
    chaos.defer(80, locks=4, seconds=(0.1, 0.5))
    chaos.start_worker()
    chaos.start_worker()
    chaos.wait_registered(2)
    chaos.wait_final(50)
    summary = chaos.report(record_property, extra={"blocking_seconds": BLOCK_SECONDS})
    blocked_pids = {
        row["pid"] for row in chaos.query(
            "select pid from chaos_runs where job_id = any(%s)", [blockers]
        )
    }
    blocked_workers = [w for w in chaos.workers if w.process.pid in blocked_pids]
    warned = [w.name for w in blocked_workers if WARNING.search(w.log.read_text(errors="replace"))]
    print(
        f"CHAOS blocked loop: block jobs ran on {[w.name for w in blocked_workers]}, "
        f"a warning naming the task in the log of {warned}; "
        f"{summary['duplicates']} duplicate runs, {summary['rescued_jobs']} jobs rescued"
    )
    chaos.stop_all()
    check_cell(summary)
    assert summary["duplicates"] == 0, "a worker whose loop was blocked lost its jobs to another"
    assert summary["rescued_jobs"] == 0
    assert blocked_workers and warned == [w.name for w in blocked_workers], (
        "no warning naming the task that blocked the event loop"
    )
