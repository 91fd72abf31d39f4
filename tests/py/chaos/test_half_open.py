"""Half-open connections: the server stops answering on the worker's
existing connections (as behind a dead NAT or a failed-over address) while
new connections work. Every database call has a deadline: the worker drops
the silent connections, reconnects, and carries on; nothing is lost."""

from __future__ import annotations

import os
import select
import socket
import threading
import time

from chaos_harness import Chaos, check


class FreezingProxy:
    """TCP proxy to the server; freeze() makes every connection open so far
    silent in both directions (sockets left open), new ones pass."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.pairs: list[dict] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            pair = {"sockets": (client, server), "frozen": False}
            self.pairs.append(pair)
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair: dict) -> None:
        client, server = pair["sockets"]
        other = {client: server, server: client}
        while not self.closed:
            if pair["frozen"]:
                time.sleep(0.1)
                continue
            readable, _, _ = select.select([client, server], [], [], 0.1)
            for sock in readable:
                if pair["frozen"]:
                    break
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    client.close()
                    server.close()
                    return
                other[sock].sendall(data)

    def freeze(self) -> int:
        for pair in self.pairs:
            pair["frozen"] = True
        return len(self.pairs)

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        for pair in self.pairs:
            for sock in pair["sockets"]:
                sock.close()


def test_half_open_connections(chaos: Chaos, record_property):
    host = os.environ.get("PGHOST", "127.0.0.1")
    if host.startswith("/"):
        host = "127.0.0.1"
    proxy = FreezingProxy(host, int(os.environ.get("PGPORT", "5432")))
    try:
        dsn = f"{chaos.dsn} host=127.0.0.1 port={proxy.port}"
        # One worker and a long stalled_worker_timeout: no rescue, this is
        # about the worker finding its way back by itself.
        worker = chaos.start_worker(env={"CHAOS_DB_TIMEOUT": "2", "CHAOS_STALLED": "60"}, dsn=dsn)
        chaos.wait_registered(1)
        chaos.defer(60, locks=4, seconds=(0.1, 0.5))
        chaos.busy_worker()
        frozen = proxy.freeze()
        frozen_at = time.monotonic()
        runs = chaos.query("select count(*) as n from chaos_runs")[0]["n"]
        chaos.defer(20, locks=4, seconds=(0.1, 0.5))
        # Service is back when new runs start.
        while chaos.query("select count(*) as n from chaos_runs")[0]["n"] <= runs + 4:
            assert time.monotonic() - frozen_at < 40, chaos.log_text()
            time.sleep(0.2)
        resumed = round(time.monotonic() - frozen_at, 2)
        chaos.faults.append({"kind": "half-open", "at": None, "pid": None, "frozen": frozen})
        chaos.wait_final(40)
        summary = chaos.report(record_property)
        print(f"CHAOS half-open: {frozen} connections frozen, service resumed after {resumed} s")
        assert worker.process.poll() is None
        chaos.stop_all()
        check(summary, recovery=False)
        assert summary["duplicates"] == 0
        log = worker.log.read_text()
        # The fault was noticed by a deadline, and the end of it logged.
        assert "no answer within" in log or "TimeoutError" in log, log[-3000:]
        assert "service resumed" in log or "Listening again" in log, log[-3000:]
    finally:
        proxy.close()
