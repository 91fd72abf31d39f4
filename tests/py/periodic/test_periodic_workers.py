"""Three ``procrastinate worker`` processes defer a ``* * * * * *`` periodic
task side by side: each tick (second) yields exactly one job."""

from __future__ import annotations

import collections
import re
import time

WORKERS = 3
#: Seconds (ticks) during which all the workers must have deferred.
WINDOW = 10

DEFERRED = re.compile(r"deferred for timestamp (\d+) with id (\d+)")
SKIPPED = re.compile(r"skipped for timestamp (\d+): already deferred")


def handled_ticks(output: str) -> tuple[set[int], set[int]]:
    """The ticks a worker's log says it deferred, and those it found
    already deferred."""
    deferred = {int(m.group(1)) for m in DEFERRED.finditer(output)}
    skipped = {int(m.group(1)) for m in SKIPPED.finditer(output)}
    return deferred, skipped


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return value


def test_three_workers_defer_each_tick_exactly_once(start_worker, db):
    workers = [
        start_worker("--name", f"w{n}", "--queues", "periodic") for n in range(WORKERS)
    ]

    def all_handled() -> list[set[int]]:
        return [set.union(*handled_ticks(w.output)) for w in workers]

    # Every worker's deferrer is running once each has handled a tick.
    firsts = wait_until(
        lambda: all(all_handled()) and [min(t) for t in all_handled()],
        timeout=60,
        what="every worker handling a tick",
    )
    start = max(firsts)
    wait_until(
        lambda: all(max(t) >= start + WINDOW for t in all_handled()),
        timeout=60,
        what=f"{WINDOW} more ticks",
    )
    for worker in workers:
        assert worker.stop() == 0, worker.output

    logs = [handled_ticks(worker.output) for worker in workers]
    end = min(max(deferred | skipped) for deferred, skipped in logs)
    window = range(start, end + 1)
    assert len(window) > WINDOW

    rows = db.execute(
        "select id, (args->>'timestamp')::bigint as timestamp "
        "from procrastinate_jobs where task_name = 'every_second' order by id"
    ).fetchall()
    per_tick = collections.Counter(row["timestamp"] for row in rows)
    # no tick duplicated, ever
    assert [t for t, n in per_tick.items() if n > 1] == []
    # no tick missing while all the workers ran
    assert [t for t in window if t not in per_tick] == []
    # each worker tried every tick of the window, and exactly one of them
    # deferred it: the database arbitrated
    for deferred, skipped in logs:
        assert set(window) <= deferred | skipped
    deferrals = collections.Counter(
        t for deferred, _ in logs for t in deferred if t in window
    )
    assert deferrals == collections.Counter(window)
    job_ids = {
        int(m.group(1)): int(m.group(2))
        for worker in workers
        for m in DEFERRED.finditer(worker.output)
    }
    assert {t: job_ids[t] for t in window} == {
        row["timestamp"]: row["id"] for row in rows if row["timestamp"] in window
    }
