"""``GET /metrics`` over HTTP on ``--metrics-listen``, on one thread whatever the clients do.

The standard library's threading HTTP server started a thread per connection, and a
connection that sends nothing kept its thread forever. Here one asyncio loop on one
thread serves every connection: an idle connection costs a socket and a coroutine, is
closed when its request has not arrived within ``REQUEST_SECONDS``, and connections
past ``MAX_CONNECTIONS`` are closed at once. Each connection answers one request.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading

from graphkit.cache.server.metrics import Metrics

REQUEST_SECONDS = 10.0
MAX_CONNECTIONS = 64
MAX_REQUEST_BYTES = 16 * 1024


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def _header(head: bytes, name: bytes) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return None


class MetricsServer:
    """Serves a ``Metrics`` object's exposition from a daemon thread."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self._metrics = metrics
        # Bound here, so a busy port is an error before the server reports it is up.
        self._socket = socket.create_server(
            (host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET
        )
        self._loop = asyncio.new_event_loop()
        self._open = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-http", daemon=True)

    @property
    def port(self) -> int:
        """The bound port (useful when asked for port 0)."""
        return int(self._socket.getsockname()[1])

    def start(self) -> None:
        """Start answering scrapes."""
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, sock=self._socket, limit=MAX_REQUEST_BYTES)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._loop.run_until_complete(server.wait_closed())
            self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open += 1  # Only this loop's thread touches the count.
        try:
            if self._open <= MAX_CONNECTIONS:
                with contextlib.suppress(
                    asyncio.TimeoutError,
                    asyncio.IncompleteReadError,  # closed before the request was complete
                    asyncio.LimitOverrunError,  # a request head past MAX_REQUEST_BYTES
                    OSError,
                ):
                    head = await asyncio.wait_for(
                        reader.readuntil(b"\r\n\r\n"), timeout=REQUEST_SECONDS
                    )
                    writer.write(self._answer(head))
                    await asyncio.wait_for(writer.drain(), timeout=REQUEST_SECONDS)
        finally:
            self._open -= 1
            writer.close()

    def _answer(self, head: bytes) -> bytes:
        method, _, rest = head.partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0]
        if method != b"GET":
            return _response("405 Method Not Allowed", "text/plain", b"only GET is served\n")
        if path != b"/metrics":
            return _response("404 Not Found", "text/plain", b"only /metrics is served here\n")
        body, content_type = self._metrics.render(_header(head, b"accept"))
        return _response("200 OK", content_type, body)

    def close(self) -> None:
        """Stop answering and release the port."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        else:
            self._loop.close()
        self._socket.close()
