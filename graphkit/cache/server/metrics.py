"""Server counters and latency histograms, rendered as Prometheus text.

A ``Metrics`` object is made by whoever starts the server and passed to the services
(no module-level registry). ``MetricsServer`` exposes it over plain HTTP on
``--metrics-listen`` with the standard library's http.server — one scrape every few
seconds does not need more.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Seconds. Cache calls are sub-millisecond when healthy, seconds when streaming.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Counts:
    """Cumulative cache counters (what ``graphkit cache stats`` reports)."""

    ac_hits: int = 0
    ac_misses: int = 0
    cas_hits: int = 0
    cas_misses: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    evictions: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__))


class Metrics:
    """Thread-safe counters for one server process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = defaultdict(int)
        self._requests: dict[tuple[str, str], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = defaultdict(float)

    def add(self, name: str, amount: int = 1) -> None:
        """Add to one of the ``Counts`` fields (``ac_hits``, ``bytes_in``, ...)."""
        with self._lock:
            self._counts[name] += amount

    def observe(self, method: str, code: str, seconds: float) -> None:
        """Record one finished call: its method, status code name and latency."""
        index = bisect.bisect_left(BUCKETS, seconds)
        with self._lock:
            self._requests[(method, code)] += 1
            buckets = self._buckets.get(method)
            if buckets is None:
                buckets = self._buckets[method] = [0] * (len(BUCKETS) + 1)
            buckets[index] += 1
            self._sums[method] += seconds

    def counts(self) -> Counts:
        """A snapshot of the cumulative counters."""
        with self._lock:
            return Counts(**{f: self._counts[f] for f in Counts.__dataclass_fields__})

    def render(self) -> str:
        """Prometheus text exposition format (version 0.0.4)."""
        c = self.counts()
        lines = [
            "# HELP graphkit_cache_hits_total Lookups answered from the cache.",
            "# TYPE graphkit_cache_hits_total counter",
            f'graphkit_cache_hits_total{{store="ac"}} {c.ac_hits}',
            f'graphkit_cache_hits_total{{store="cas"}} {c.cas_hits}',
            "# HELP graphkit_cache_misses_total Lookups the cache could not answer.",
            "# TYPE graphkit_cache_misses_total counter",
            f'graphkit_cache_misses_total{{store="ac"}} {c.ac_misses}',
            f'graphkit_cache_misses_total{{store="cas"}} {c.cas_misses}',
            "# HELP graphkit_cache_received_bytes_total Blob bytes uploaded by clients.",
            "# TYPE graphkit_cache_received_bytes_total counter",
            f"graphkit_cache_received_bytes_total {c.bytes_in}",
            "# HELP graphkit_cache_sent_bytes_total Blob bytes downloaded by clients.",
            "# TYPE graphkit_cache_sent_bytes_total counter",
            f"graphkit_cache_sent_bytes_total {c.bytes_out}",
            "# HELP graphkit_cache_evictions_total Entries evicted to stay under --max-size.",
            "# TYPE graphkit_cache_evictions_total counter",
            f"graphkit_cache_evictions_total {c.evictions}",
            "# HELP graphkit_cache_requests_total Finished gRPC calls by method and status.",
            "# TYPE graphkit_cache_requests_total counter",
        ]
        with self._lock:
            requests = sorted(self._requests.items())
            histograms = sorted((m, list(b), self._sums[m]) for m, b in self._buckets.items())
        for (method, code), n in requests:
            lines.append(f'graphkit_cache_requests_total{{method="{method}",code="{code}"}} {n}')
        lines += [
            "# HELP graphkit_cache_request_duration_seconds gRPC call latency.",
            "# TYPE graphkit_cache_request_duration_seconds histogram",
        ]
        for method, buckets, total in histograms:
            running = 0
            for bound, n in zip((*BUCKETS, float("inf")), buckets, strict=True):
                running += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(
                    f'graphkit_cache_request_duration_seconds_bucket{{method="{method}",'
                    f'le="{le}"}} {running}'
                )
            lines.append(
                f'graphkit_cache_request_duration_seconds_sum{{method="{method}"}} {total}'
            )
            lines.append(
                f'graphkit_cache_request_duration_seconds_count{{method="{method}"}} {running}'
            )
        return "\n".join(lines) + "\n"


class MetricsServer:
    """Serves ``GET /metrics`` from a daemon thread."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics is served here")
                    return
                body = metrics.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # Scrapes every few seconds would drown the structured log.

        self._http = ThreadingHTTPServer((host, port), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="metrics-http", daemon=True
        )

    @property
    def port(self) -> int:
        """The bound port (useful when asked for port 0)."""
        return int(self._http.server_address[1])

    def start(self) -> None:
        """Start answering scrapes."""
        self._thread.start()

    def close(self) -> None:
        """Stop answering and release the port."""
        self._http.shutdown()
        self._http.server_close()
