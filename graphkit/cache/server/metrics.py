"""Server counters and latency histograms, exposed with ``prometheus_client``.

A ``Metrics`` object is made by whoever starts the server and passed to the services
(no module-level registry). The hot path only adds to plain counters under one lock;
at a scrape, ``Metrics`` acts as a ``prometheus_client`` collector and the library
writes the exposition (text or OpenMetrics, as the scraper asks). The HTTP endpoint is
in ``metrics_endpoint``.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

# Seconds. Cache calls are sub-millisecond when healthy, seconds when streaming.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Each counter family: name, help, label names, and which counters give its samples.
_COUNTERS: tuple[tuple[str, str, list[str], tuple[tuple[str, list[str]], ...]], ...] = (
    (
        "hits",
        "Lookups answered from the cache.",
        ["store"],
        (("ac_hits", ["ac"]), ("cas_hits", ["cas"])),
    ),
    (
        "misses",
        "Lookups the cache could not answer.",
        ["store"],
        (("ac_misses", ["ac"]), ("cas_misses", ["cas"])),
    ),
    ("received_bytes", "Blob bytes uploaded by clients.", [], (("bytes_in", []),)),
    ("sent_bytes", "Blob bytes downloaded by clients.", [], (("bytes_out", []),)),
    ("evictions", "Entries evicted to stay under --max-size.", [], (("evictions", []),)),
    (
        "backend_uploads_lost",
        "Queued uploads whose blob left the front store before reaching the bucket.",
        [],
        (("uploads_lost", []),),
    ),
    (
        "calls_rejected",
        "Calls answered RESOURCE_EXHAUSTED because every slot was taken.",
        [],
        (("calls_rejected", []),),
    ),
    (
        "calls_timed_out",
        "Calls ended after waiting on their client past --idle-timeout.",
        [],
        (("calls_timed_out", []),),
    ),
)
_GAUGE_HELP = {
    "calls_in_flight": "Calls holding one of the --max-concurrent-calls slots.",
    "upload_queue_entries": "Writes acknowledged locally and not yet in the bucket.",
    "backend_degraded": "1 while the object store fails or is too slow, else 0.",
}


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
        self._gauges: dict[str, Callable[[], int]] = {}

    def add(self, name: str, amount: int = 1) -> None:
        """Add to a counter: a ``Counts`` field (``ac_hits``, ``bytes_in``, ...) or
        ``calls_rejected`` / ``calls_timed_out``."""
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

    def gauge(self, name: str, read: Callable[[], int]) -> None:
        """Report ``read()`` as the gauge ``graphkit_cache_<name>`` at every scrape."""
        with self._lock:
            self._gauges[name] = read

    def counts(self) -> Counts:
        """A snapshot of the cumulative counters."""
        with self._lock:
            return Counts(**{f: self._counts[f] for f in Counts.__dataclass_fields__})

    def collect(self) -> Iterator[Metric]:
        """The metric families, as a ``prometheus_client`` collector yields them."""
        with self._lock:
            counts = dict(self._counts)
            requests = sorted(self._requests.items())
            histograms = sorted((m, list(b), self._sums[m]) for m, b in self._buckets.items())
            gauges = sorted(self._gauges.items())
        for name, help_text, labels, samples in _COUNTERS:
            family = CounterMetricFamily(f"graphkit_cache_{name}", help_text, labels=labels)
            for key, values in samples:
                family.add_metric(values, counts.get(key, 0))
            yield family
        calls = CounterMetricFamily(
            "graphkit_cache_requests",
            "Finished gRPC calls by method and status.",
            labels=["method", "code"],
        )
        for (method, code), n in requests:
            calls.add_metric([method, code], n)
        yield calls
        latency = HistogramMetricFamily(
            "graphkit_cache_request_duration_seconds", "gRPC call latency.", labels=["method"]
        )
        bounds = [*(repr(b) for b in BUCKETS), "+Inf"]
        for method, buckets, total in histograms:
            cumulative = list(zip(bounds, itertools.accumulate(buckets), strict=True))
            latency.add_metric([method], cumulative, total)
        yield latency
        for name, read in gauges:
            gauge = GaugeMetricFamily(f"graphkit_cache_{name}", _GAUGE_HELP.get(name, name))
            gauge.add_metric([], read())
            yield gauge

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition a scraper asked for (its ``Accept`` header) and its content type."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)  # A collector is anything with collect().
        encode, content_type = choose_encoder(accept or "")
        return encode(registry), content_type
