from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from chaos_harness import OUT, Chaos
from fault_proxy import FaultProxy


@pytest.fixture(scope="session", autouse=True)
def _fresh_summary() -> None:
    """.chaos/summary.txt holds the summary lines of this session only."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "summary.txt").write_text("")


@pytest.fixture
def chaos(request: pytest.FixtureRequest, db_dsn: str) -> Iterator[Chaos]:
    """A Chaos harness on a fresh database; workers left are killed, and
    their logs shown when the test failed (also kept in .chaos/NAME/)."""
    harness = Chaos(request.node.name, db_dsn)
    yield harness
    harness.kill_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(harness.log_text())


@pytest.fixture
def proxies(chaos: Chaos) -> Iterator[Callable[[], FaultProxy]]:
    """make(): a new proxy to the test server (fault_proxy); all closed
    after the test, once its workers are killed."""
    host = os.environ.get("PGHOST", "127.0.0.1")
    if host.startswith("/"):
        host = "127.0.0.1"
    port = int(os.environ.get("PGPORT", "5432"))
    made: list[FaultProxy] = []

    def make() -> FaultProxy:
        made.append(FaultProxy(host, port))
        return made[-1]

    yield make
    chaos.kill_all()
    for proxy in made:
        proxy.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
