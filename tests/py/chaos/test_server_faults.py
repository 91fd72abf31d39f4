"""The server goes away under the workers (issue 14): an immediate-stop
crash, three times, and a failover to a promoted streaming standby.

Both run on a durable server (synchronous_commit on for the test's
database; the private cluster turns it off for speed): a commit the server
acknowledged survives the crash, so every duplicate run must come from a
run that was in flight when the server went away. Those are counted and
printed; any other duplicate, any two runs of one job at once, any lock
overlap fails the cell. Each cell also measures how soon jobs start again.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

import psycopg.conninfo
import pytest

from chaos_harness import RECOVERY_BOUND, Chaos, check_cell
from pg_server import Cluster, create_standby, remove_standby

#: Seconds the server stays down in each crash.
DOWN_SECONDS = 3.0
#: The failover target: first job started this soon after the promotion.
FAILOVER_BOUND = 2.0
#: Seconds of commits before a failover that the standby may not have
#: received (asynchronous streaming on one host: milliseconds, in practice).
STREAMING_LAG = 1.0


def _make_durable(chaos: Chaos) -> None:
    """Acknowledged commits survive an immediate stop (new sessions only:
    call before the workers start)."""
    name = chaos.query("select current_database() as d")[0]["d"]
    chaos.query(f'alter database "{name}" set synchronous_commit = on')


def _in_flight_at(run: dict[str, Any], down_at: Any, up_at: Any) -> bool:
    """The run was going when the server went away (or its end was only
    recorded once the server was back): its report may have been lost."""
    return run["started_at"] <= up_at and (run["ended_at"] is None or run["ended_at"] >= down_at)


def _crash_duplicates(chaos: Chaos, windows: list[tuple[Any, Any]]) -> tuple[int, list]:
    """Repeated runs explained by a crash (the first run was in flight at
    one), and the unexplained ones (Chaos.split_repeated_runs)."""
    return chaos.split_repeated_runs(
        lambda first: any(_in_flight_at(first, down, up) for down, up in windows)
    )


def test_postgresql_crash_immediate_stop_three_times(chaos: Chaos, record_property):
    primary = Cluster.primary()
    _make_durable(chaos)
    chaos.defer(1500, locks=8, seconds=(0.02, 0.2), lock_share=0.3)
    chaos.start_worker(concurrency=8)
    chaos.start_worker(concurrency=8)
    chaos.wait_registered(2)
    windows, resumed = [], []
    try:
        for _ in range(3):
            chaos.busy_worker()
            time.sleep(1.5)  # let work pile up between crashes
            down_at = chaos.now()
            primary.crash()
            time.sleep(DOWN_SECONDS)  # the outage itself
            primary.start()
            up_at = chaos.now()
            windows.append((down_at, up_at))
            chaos.faults.append({"kind": "crash", "at": down_at, "pid": None, "up_at": up_at})
            # A fetch after the restart, not a run: jobs claimed ahead before
            # the crash run whatever the worker's connections do.
            resumed.append(chaos.first_fetch_after(up_at))
    finally:
        if not primary.running():
            primary.start()
    chaos.wait_final(40)
    explained, unexplained = _crash_duplicates(chaos, windows)
    summary = chaos.report(record_property, extra={
        "crash_duplicates": explained,
        "unexplained_duplicates": len(unexplained),
        "fetch_resumed_seconds": [round(r, 2) for r in resumed],
    })
    print(
        f"CHAOS crash: jobs fetched again {[round(r, 2) for r in resumed]} s after each "
        f"restart (bound {RECOVERY_BOUND} s); {summary['duplicates']} duplicate runs, "
        f"{explained} of runs in flight at a crash, {len(unexplained)} unexplained; "
        f"{summary['rescued_jobs']} jobs rescued"
    )
    chaos.stop_all()
    check_cell(summary, unexplained, cause="a crash (first run not in flight at one)")
    assert all(r <= RECOVERY_BOUND for r in resumed), (
        f"jobs fetched again {resumed} s after the restarts (bound {RECOVERY_BOUND} s)"
    )


def test_failover_to_promoted_standby(chaos: Chaos, record_property):
    primary = Cluster.primary()
    _make_durable(chaos)
    wal_level = chaos.query("show wal_level")[0]["wal_level"]
    assert wal_level in ("replica", "logical"), f"wal_level {wal_level}: no standby possible"
    direct_dsn = chaos.dsn
    standby = None
    try:
        standby = create_standby(primary.port)
        # Both servers, the writable one wins: the harness, the workers and
        # their run records follow the failover.
        chaos.dsn = psycopg.conninfo.make_conninfo(
            direct_dsn,
            host="127.0.0.1,127.0.0.1",
            port=f"{primary.port},{standby.port}",
            target_session_attrs="read-write",
        )
        chaos.defer(1500, locks=8, seconds=(0.02, 0.2), lock_share=0.3)
        chaos.start_worker(concurrency=8)
        chaos.start_worker(concurrency=8)
        chaos.wait_registered(2)
        _wait_for_runs(chaos, 150)
        down_at = chaos.now()
        primary.crash()
        promoted_at = datetime.datetime.now(datetime.timezone.utc)
        standby.promote()
        up_at = chaos.now()
        chaos.faults.append({"kind": "failover", "at": down_at, "pid": None, "up_at": up_at})
        # Same host, same clock: the servers' clock_timestamp() and ours
        # agree. A run may be of a job claimed ahead before the crash; the
        # target is about the first job fetched from the new primary.
        first_run = chaos.first_run_after(promoted_at)
        first_job = chaos.first_fetch_after(promoted_at)
        promotion_took = (up_at - promoted_at).total_seconds()
        chaos.wait_final(40)
        # A report committed on the primary shortly before the crash may not
        # have been streamed yet: such runs count as in flight too.
        lag = datetime.timedelta(seconds=STREAMING_LAG)
        explained, unexplained = _crash_duplicates(chaos, [(down_at - lag, up_at)])
        summary = chaos.report(record_property, extra={
            "crash_duplicates": explained,
            "unexplained_duplicates": len(unexplained),
            "promotion_seconds": round(promotion_took, 2),
            "first_run_after_promotion_seconds": round(first_run, 2),
            "first_fetch_after_promotion_seconds": round(first_job, 2),
        })
        print(
            f"CHAOS failover: promotion took {promotion_took:.2f} s, first run "
            f"{first_run:.2f} s and first fetch {first_job:.2f} s after it (target "
            f"{FAILOVER_BOUND} s); "
            f"{summary['duplicates']} duplicate runs, {explained} of runs in flight at the "
            f"failover, {len(unexplained)} unexplained; {summary['rescued_jobs']} jobs rescued"
        )
        chaos.stop_all()
    finally:
        chaos.kill_all()
        if standby is not None:
            remove_standby(standby)
        chaos.dsn = direct_dsn
        # The old primary comes back (its own timeline) for the next tests
        # and for the fixture that drops this test's database.
        if not primary.running():
            primary.start()
    check_cell(summary, unexplained, cause="the failover (first run not in flight at it)")
    assert first_job <= FAILOVER_BOUND, (
        f"first job fetched {first_job:.2f} s after the promotion (target {FAILOVER_BOUND} s)"
    )


def _wait_for_runs(chaos: Chaos, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while chaos.query("select count(*) as n from chaos_runs")[0]["n"] < count:
        if time.monotonic() > deadline:
            pytest.fail(f"fewer than {count} runs after {timeout} s\n{chaos.log_text()}")
        time.sleep(0.1)
