"""A TCP proxy between workers and the server whose link the test breaks.

``FaultProxy(host, port)`` listens on 127.0.0.1 (``.port``) and forwards
every connection to the server. ``set_mode`` changes what the link does
from then on, to connections open already and to new ones:

- ``pass``: bytes go through at once;
- ``blackhole``: nothing goes through in either direction; sockets stay
  open and new connections are accepted, as in a network partition (the
  bytes wait in the kernel's buffers and flow again when the mode goes
  back to ``pass``, like TCP retransmission after the partition heals);
- ``slow``: each chunk is delivered ``delay`` seconds (0.2) after it was
  read, in both directions, in order;
- ``refuse``: the listener is closed, so new connections are refused;
  connections open already keep passing bytes (call ``reset()`` first to
  cut them too).

``reset()`` sends an RST on both sides of every open connection (SO_LINGER
0, then close): the abrupt end a restarted router or a killed firewall
state gives.

One thread multiplexes every socket with select(); the test's volumes are
small enough for blocking sendall.
"""

from __future__ import annotations

import collections
import select
import socket
import struct
import threading
import time

import psycopg.conninfo

MODES = ("pass", "blackhole", "slow", "refuse")


class _Link:
    """One proxied connection: the client's socket, the server's, and the
    chunks read but not delivered yet (slow mode), per destination."""

    def __init__(self, client: socket.socket, server: socket.socket):
        self.client = client
        self.server = server
        self.pending: dict[socket.socket, collections.deque] = {
            client: collections.deque(),
            server: collections.deque(),
        }

    def peer(self, sock: socket.socket) -> socket.socket:
        return self.server if sock is self.client else self.client

    def close(self, rst: bool = False) -> None:
        for sock in (self.client, self.server):
            if rst:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            try:
                sock.close()
            except OSError:
                pass


class FaultProxy:
    def __init__(self, host: str, port: int, delay: float = 0.2):
        self.target = (host, port)
        self.delay = delay
        self.mode = "pass"
        self.links: list[_Link] = []
        self.accepted = 0
        self.resets = 0
        self._guard = threading.Lock()
        self._closed = False
        self.listener: socket.socket | None = self._listen(0)
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()

    def conninfo(self, dsn: str) -> str:
        """``dsn`` going through this proxy."""
        return psycopg.conninfo.make_conninfo(dsn, host="127.0.0.1", port=str(self.port))

    # --- control (from the test) -----------------------------------------------------

    def set_mode(self, mode: str) -> None:
        assert mode in MODES, mode
        with self._guard:
            if mode == "refuse" and self.listener is not None:
                self.listener.close()
                self.listener = None
            elif mode != "refuse" and self.listener is None:
                self.listener = self._listen(self.port)
            self.mode = mode

    def reset(self) -> int:
        """RST every open connection; returns how many there were."""
        with self._guard:
            links, self.links = self.links, []
            for link in links:
                link.close(rst=True)
            self.resets += len(links)
            return len(links)

    def close(self) -> None:
        with self._guard:
            self._closed = True
            if self.listener is not None:
                self.listener.close()
                self.listener = None
            for link in self.links:
                link.close()
            self.links = []
        self._thread.join(5)

    # --- the forwarding thread -------------------------------------------------------

    @staticmethod
    def _listen(port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        return listener

    def _run(self) -> None:
        while True:
            with self._guard:
                if self._closed:
                    return
                mode, listener = self.mode, self.listener
                links = list(self.links)
            watched: list[socket.socket] = [listener] if listener is not None else []
            if mode != "blackhole":
                watched += [sock for link in links for sock in (link.client, link.server)]
            try:
                readable, _, _ = select.select(watched, [], [], 0.02)
            except (OSError, ValueError):
                continue  # a socket closed by reset() or close() meanwhile
            with self._guard:
                if self._closed:
                    return
                for sock in readable:
                    if sock is self.listener:
                        self._accept(sock)
                    else:
                        self._read(sock)
                if self.mode != "blackhole":
                    self._deliver()

    def _accept(self, listener: socket.socket) -> None:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        try:
            server = socket.create_connection(self.target, timeout=5)
            server.settimeout(None)
        except OSError:
            client.close()
            return
        self.links.append(_Link(client, server))
        self.accepted += 1

    def _link_of(self, sock: socket.socket) -> _Link | None:
        for link in self.links:
            if sock is link.client or sock is link.server:
                return link
        return None

    def _read(self, sock: socket.socket) -> None:
        link = self._link_of(sock)
        if link is None:
            return
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop(link)
            return
        link.pending[link.peer(sock)].append((time.monotonic() + self._latency(), data))

    def _latency(self) -> float:
        return self.delay if self.mode == "slow" else 0.0

    def _deliver(self) -> None:
        now = time.monotonic()
        for link in list(self.links):
            for destination, queue in link.pending.items():
                while queue and queue[0][0] <= now:
                    _, data = queue.popleft()
                    try:
                        destination.sendall(data)
                    except OSError:
                        self._drop(link)
                        break

    def _drop(self, link: _Link) -> None:
        if link in self.links:
            self.links.remove(link)
        link.close()
