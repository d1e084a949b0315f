"""A loopback TCP proxy that makes a real server slow, or stalls it completely.

Each request the client sends is held ``delay`` seconds before it is passed on, so a
client that sends N requests one after another waits N delays and one that sends them
concurrently (on several connections) about one. With ``stall`` the proxy accepts
connections and never answers: the backend of a test that must not hang.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

LOCALHOST = "127.0.0.1"


@dataclass
class SlowProxy:
    """A running proxy; ``endpoint`` is where clients connect."""

    listener: socket.socket
    upstream: tuple[str, int] | None
    delay: float
    connections: list[socket.socket] = field(default_factory=list)
    most_at_once: int = 0
    _busy: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        return f"http://{LOCALHOST}:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            if self.upstream is not None:
                threading.Thread(target=self._forward, args=(conn,), daemon=True).start()

    def _forward(self, conn: socket.socket) -> None:
        assert self.upstream is not None
        up = socket.create_connection(self.upstream)
        self.connections.append(up)
        threading.Thread(target=_pipe, args=(up, conn), daemon=True).start()
        while data := _recv(conn):
            with self._lock:
                self._busy += 1
                self.most_at_once = max(self.most_at_once, self._busy)
            time.sleep(self.delay)
            with self._lock:
                self._busy -= 1
            try:
                up.sendall(data)
            except OSError:
                break
        _close(up)

    def close(self) -> None:
        _close(self.listener)
        for conn in self.connections:
            _close(conn)


def _recv(conn: socket.socket) -> bytes:
    try:
        return conn.recv(1 << 16)
    except OSError:
        return b""


def _pipe(source: socket.socket, target: socket.socket) -> None:
    while data := _recv(source):
        try:
            target.sendall(data)
        except OSError:
            break
    _close(target)


def _close(conn: socket.socket) -> None:
    with suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    conn.close()


@contextmanager
def slow_proxy(upstream: str | None, delay: float = 0.0) -> Iterator[SlowProxy]:
    """Proxy to ``upstream`` (``http://host:port``) holding each request ``delay``
    seconds; with ``upstream`` None, a server that accepts and never answers."""
    listener = socket.socket()
    listener.bind((LOCALHOST, 0))
    listener.listen(128)
    target = None
    if upstream is not None:
        host, port = upstream.removeprefix("http://").rsplit(":", 1)
        target = (host, int(port))
    proxy = SlowProxy(listener, target, delay)
    threading.Thread(target=proxy._serve, daemon=True).start()
    try:
        yield proxy
    finally:
        proxy.close()
