"""One worker's link to the server breaks (issue 14), through a proxy the
test controls (fault_proxy): blackholed, reset then refused, slowed down.

Each worker has its own proxy, so one can be cut off while the other keeps
working; the run records go straight to the server (CHAOS_RECORD_DSN), so
the times in chaos_runs are the true times of the runs. The workers' calls
have a 2 s deadline (CHAOS_DB_TIMEOUT, as in test_half_open) so that a
silent link is noticed.

What a lease must give: the cut-off worker stops its runs before its lease
runs out (self-fencing), so the other worker can take the jobs back without
two runs of one job, or of one lock, at the same time. A repeated run is
allowed only when its first run was on the cut-off worker during the fault
(counted, printed); a slow link is no fault at all: nothing is rescued.
"""

from __future__ import annotations

import time
from typing import Any

from chaos_harness import (
    RECOVERY_BOUND,
    Chaos,
    Worker,
    check_cell,
)
from fault_proxy import FaultProxy

#: How long each fault lasts (seconds).
BLACKHOLE_SECONDS = 15.0
REFUSED_SECONDS = 8.0
SLOW_SECONDS = 10.0


def _start_behind(chaos: Chaos, proxy: FaultProxy, concurrency: int, timeout: str = "2") -> Worker:
    return chaos.start_worker(
        concurrency=concurrency, dsn=proxy.conninfo(chaos.dsn), env={"CHAOS_DB_TIMEOUT": timeout}
    )


def _settle_cut_cell(chaos: Chaos, cut: Worker, back_at: Any, record_property: Any, *,
                     fault: str, recovery: tuple[str, str, float]) -> None:
    """Once the link is back: wait until every job is final, report and
    assert what a cut link allows: repeated runs only of runs on the
    cut-off worker (``cut``) that started before the link came back
    (``back_at``), none at the same time; both workers still alive; the
    ``recovery`` (figure name, what it measures, seconds) within
    RECOVERY_BOUND."""
    chaos.wait_final(40)
    pid = cut.process.pid
    explained, unexplained = chaos.split_repeated_runs(
        lambda first: first["pid"] == pid and first["started_at"] < back_at
    )
    name, measured, seconds = recovery
    summary = chaos.report(record_property, extra={
        "fault": fault, name: round(seconds, 2),
        "cut_duplicates": explained, "unexplained_duplicates": len(unexplained),
    })
    print(
        f"CHAOS {fault}: {measured} {seconds:.2f} s (bound {RECOVERY_BOUND} s); "
        f"{summary['duplicates']} duplicate runs ({explained} of runs on the cut-off worker), "
        f"{summary['concurrent_duplicates']} at the same time; "
        f"{summary['lock_overlaps']} lock overlaps"
    )
    check_cell(summary, unexplained, cause="the cut")
    assert all(w.process.poll() is None for w in chaos.workers), chaos.log_text()
    assert seconds <= RECOVERY_BOUND, f"{measured} {seconds:.2f} s"


def test_blackholed_worker_fences_itself(chaos: Chaos, proxies, record_property):
    # Locked jobs longer than the lease: the cut-off worker's runs would
    # still be going when the other worker takes them back. Two jobs per
    # lock, so that only four can run at once: the cut-off worker takes two
    # (jobs of lock-0 and lock-1), the other two, and it keeps two slots
    # free for the jobs taken back.
    chaos.defer_jobs([
        {"task_name": "work", "args": {"seconds": 8.0}, "lock": f"lock-{i % 4}"}
        for i in range(8)
    ])
    cut_link, other_link = proxies(), proxies()
    cut = _start_behind(chaos, cut_link, concurrency=2)
    chaos.wait_registered(1)
    chaos.wait_busy([cut], runs=2)
    other = _start_behind(chaos, other_link, concurrency=4)
    chaos.wait_registered(2)
    chaos.wait_busy([cut, other], runs=2)
    held = chaos.runs_in_flight(cut.process.pid)
    fault_at = chaos.now()
    cut_link.set_mode("blackhole")
    time.sleep(BLACKHOLE_SECONDS)  # the partition itself
    back_at = chaos.now()
    cut_link.set_mode("pass")
    taken_back = chaos.taken_back_after(held, fault_at)
    _settle_cut_cell(
        chaos, cut, back_at, record_property, fault=f"blackhole {BLACKHOLE_SECONDS:g} s",
        recovery=("taken_back_seconds",
                  f"{len(held)} jobs of the cut-off worker taken back after the cut", taken_back),
    )


def test_link_reset_then_refused(chaos: Chaos, proxies, record_property):
    chaos.defer(2000, locks=8, seconds=(0.02, 0.2), lock_share=0.3)
    cut_link, other_link = proxies(), proxies()
    cut = _start_behind(chaos, cut_link, concurrency=8)
    other = _start_behind(chaos, other_link, concurrency=8)
    chaos.wait_registered(2)
    chaos.wait_busy([cut, other])
    time.sleep(2.0)  # both at full speed
    reset = cut_link.reset()
    cut_link.set_mode("refuse")
    time.sleep(REFUSED_SECONDS)  # the outage itself
    back_at = chaos.now()
    cut_link.set_mode("pass")
    # Recovery: the cut-off worker runs jobs it fetched after the link came
    # back (a run it claimed before would not say its link works again).
    back_in = chaos.first_fetched_run_after(back_at, cut.process.pid)
    _settle_cut_cell(
        chaos, cut, back_at, record_property,
        fault=f"reset {reset} connections, refused {REFUSED_SECONDS:g} s",
        recovery=("back_in_seconds",
                  "the cut-off worker ran a job fetched after the link came back", back_in),
    )


def test_slow_link_is_no_reason_to_rescue(chaos: Chaos, proxies, record_property):
    chaos.defer(400, locks=8, seconds=(0.05, 0.3), lock_share=0.3)
    slow_link, other_link = proxies(), proxies()
    # A 5 s deadline: a call over the slow link takes several 0.4 s round
    # trips (a transaction: begin, query, commit), and this cell is about
    # leases, not deadlines.
    slow = _start_behind(chaos, slow_link, concurrency=4, timeout="5")
    other = _start_behind(chaos, other_link, concurrency=4, timeout="5")
    chaos.wait_registered(2)
    chaos.wait_busy([slow, other])
    slow_at = chaos.now()
    slow_link.set_mode("slow")
    time.sleep(SLOW_SECONDS)  # the slow spell itself
    slow_link.set_mode("pass")
    chaos.wait_final(40)
    slow_runs = chaos.query(
        "select count(*) as n from chaos_runs where pid = %s and started_at > %s",
        [slow.process.pid, slow_at],
    )[0]["n"]
    summary = chaos.report(record_property, extra={
        "fault": f"slow 200 ms each way, {SLOW_SECONDS:g} s",
        "slow_worker_runs": slow_runs,
    })
    print(
        f"CHAOS slow link: the slow worker ran {slow_runs} jobs from the slow spell on; "
        f"{summary['rescued_jobs']} jobs rescued, {summary['duplicates']} duplicate runs"
    )
    check_cell(summary)
    assert summary["rescued_jobs"] == 0, "a slow worker's jobs were taken back"
    assert summary["duplicates"] == 0
    assert slow.process.poll() is None and other.process.poll() is None, chaos.log_text()
