"""Bounded work per client: a call budget, idle calls ended, health always answering,
connection age and keepalive, and a metrics endpoint that holds no thread per connection.

Every test starts a real server on 127.0.0.1 and stalls real streams, with small limits
and short timeouts so that the whole file runs in seconds.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cacheservers import LOCALHOST, Client, client, pdigest, running, serve_process, wait_for
from cacheservers import options as serve_options
from grpc_health.v1 import health_pb2, health_pb2_grpc

from graphkit.cache.protocol import bs_pb2, re_pb2
from graphkit.cache.server.limits import LIGHT_CALLS
from graphkit.cache.server.options import Address
from graphkit.cache.server.serve import server_options
from graphkit.cache.store.local import STAGING

CHUNK = 64 * 1024
CAS = "/build.bazel.remote.execution.v2.ContentAddressableStorage"


def stalled_write(data: bytes, release: threading.Event) -> Iterator[Any]:
    """A Write that sends its first chunk, then nothing until ``release`` (10 s at most)."""
    d = pdigest(data)
    name = f"uploads/stalled/blobs/{d.hash}/{d.size_bytes}"
    yield bs_pb2.WriteRequest(resource_name=name, data=data[:CHUNK])
    release.wait(10)
    yield bs_pb2.WriteRequest(write_offset=CHUNK, data=data[CHUNK:], finish_write=True)


def nothing_until(release: threading.Event) -> Iterator[Any]:
    """A request stream that never sends a message (ends after ``release`` or 10 s)."""
    release.wait(10)
    yield from ()


def check(c: Client) -> Any:
    stub = health_pb2_grpc.HealthStub(c.channel)
    return stub.Check(health_pb2.HealthCheckRequest(), timeout=3).status


def refused(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def test_a_saturated_server_answers_health_and_capabilities_and_refuses_one_call_more(
    tmp_path: Path,
) -> None:
    blobs = [bytes([i]) * (2 * CHUNK) for i in range(4)]
    release = threading.Event()
    with running(tmp_path / "c", max_concurrent_calls=4, idle_timeout_seconds=30.0) as (
        server,
        port,
    ), client(port) as c:
        try:
            uploads = [c.bytestream.Write.future(stalled_write(b, release)) for b in blobs]
            wait_for(lambda: server.calls_in_flight == 4)
            assert check(c) == health_pb2.HealthCheckResponse.SERVING
            caps = c.caps.GetCapabilities(re_pb2.GetCapabilitiesRequest(), timeout=3)
            assert caps.cache_capabilities.max_batch_total_size_bytes > 0
            error = refused(lambda: c.missing(b"one call more"))
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "all 4 calls (--max-concurrent-calls) are in progress" in error.details()
            error = refused(lambda: c.write(b"another upload"))
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        finally:
            release.set()
        assert [u.result(10).committed_size for u in uploads] == [len(b) for b in blobs]
        wait_for(lambda: server.calls_in_flight == 0)
        assert c.missing(*blobs) == []


def test_a_write_that_stops_sending_is_ended_and_its_slot_freed(tmp_path: Path) -> None:
    release = threading.Event()
    with running(tmp_path / "c", max_concurrent_calls=1, idle_timeout_seconds=0.5) as (
        server,
        port,
    ), client(port) as c:
        try:
            start = time.monotonic()
            upload = c.bytestream.Write.future(stalled_write(b"x" * 2 * CHUNK, release))
            error = refused(lambda: upload.result(10))
            assert time.monotonic() - start < 5
        finally:
            release.set()
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "no message from the client for 0.5 s (--idle-timeout)" in error.details()
        wait_for(lambda: server.calls_in_flight == 0)
        wait_for(lambda: not any((tmp_path / "c" / STAGING).iterdir()))
        assert c.write(b"the slot is free again").committed_size == 22


@pytest.mark.parametrize(
    "method", [f"{CAS}/FindMissingBlobs", "/grpc.health.v1.Health/Check"]
)
def test_a_unary_call_whose_request_never_comes_is_ended(tmp_path: Path, method: str) -> None:
    release = threading.Event()
    with running(tmp_path / "c", idle_timeout_seconds=0.5) as (server, port), client(port) as c:
        try:
            # A unary method called as if it were client-streaming: headers, then silence.
            call = c.channel.stream_unary(method).future(nothing_until(release))
            error = refused(lambda: call.result(5))
        finally:
            release.set()
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        wait_for(lambda: server.calls_in_flight == 0)


def test_more_stalled_health_checks_than_threads_delay_health_only_until_they_are_cut(
    tmp_path: Path,
) -> None:
    release = threading.Event()
    with running(tmp_path / "c", idle_timeout_seconds=2.0) as (_server, port), client(port) as c:
        stalled = [
            c.channel.stream_unary("/grpc.health.v1.Health/Check").future(nothing_until(release))
            for _ in range(LIGHT_CALLS + 4)
        ]
        try:
            codes = {refused(lambda f=f: f.result(5)).code() for f in stalled}  # type: ignore[misc]
        finally:
            release.set()
        assert codes == {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert check(c) == health_pb2.HealthCheckResponse.SERVING


def test_a_reader_that_stops_reading_is_ended(tmp_path: Path) -> None:
    data = bytes(range(256)) * (32 * 1024 * 1024 // 256)
    with running(tmp_path / "c", idle_timeout_seconds=0.5) as (server, port), client(port) as c:
        c.write(data, chunk=1024 * 1024)
        # Fixed flow-control windows, so the server's sends block once the client stops.
        with grpc.insecure_channel(f"{LOCALHOST}:{port}", options=[
            ("grpc.http2.bdp_probe", 0), ("grpc.max_receive_message_length", 64 << 20),
        ]) as channel:
            d = pdigest(data)
            reads = Client(channel).bytestream.Read(
                bs_pb2.ReadRequest(resource_name=f"blobs/{d.hash}/{d.size_bytes}"))
            next(reads)
            wait_for(lambda: server.calls_in_flight == 0, timeout=5)
            error = refused(lambda: list(reads))
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_a_stream_outliving_the_connection_age_is_ended(tmp_path: Path) -> None:
    data = b"y" * (200 * 1024)

    def trickle() -> Iterator[Any]:  # never idle, never finished: 1 KiB every 50 ms
        d = pdigest(data)
        for offset in range(0, len(data), 1024):
            yield bs_pb2.WriteRequest(
                resource_name=f"uploads/u/blobs/{d.hash}/{d.size_bytes}" if offset == 0 else "",
                write_offset=offset, data=data[offset:offset + 1024],
                finish_write=offset + 1024 >= len(data))
            time.sleep(0.05)

    with running(tmp_path / "c", idle_timeout_seconds=30.0, max_connection_age_seconds=1.0,
                 connection_age_grace_seconds=0.5) as (server, port), client(port) as c:
        start = time.monotonic()
        error = refused(lambda: c.bytestream.Write(trickle(), timeout=9))
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert time.monotonic() - start < 4
        wait_for(lambda: server.calls_in_flight == 0)
        assert c.missing(b"a new connection works") == [pdigest(b"a new connection works").hash]


def test_server_options_set_keepalive_and_connection_age(tmp_path: Path) -> None:
    opts = dict(server_options(serve_options(tmp_path, keepalive_seconds=45.0,
                                             max_connection_age_seconds=600.0,
                                             connection_age_grace_seconds=30.0)))
    assert opts["grpc.keepalive_time_ms"] == 45_000
    assert opts["grpc.keepalive_timeout_ms"] == 20_000
    assert opts["grpc.http2.max_pings_without_data"] == 0
    assert opts["grpc.max_connection_age_ms"] == 600_000
    assert opts["grpc.max_connection_age_grace_ms"] == 30_000


def test_idle_metrics_connections_hold_no_thread_and_scrapes_still_answer(
    tmp_path: Path,
) -> None:
    with running(tmp_path / "c", metrics_listen=Address(LOCALHOST, 0)) as (server, _port):
        assert server.endpoints is not None and server.endpoints.metrics_port is not None
        metrics_port = server.endpoints.metrics_port
        before = threading.active_count()
        idle = [socket.create_connection((LOCALHOST, metrics_port)) for _ in range(30)]
        try:
            time.sleep(0.3)
            assert threading.active_count() <= before + 1
            url = f"http://{LOCALHOST}:{metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                assert b"graphkit_cache_calls_in_flight 0.0" in response.read()
        finally:
            for s in idle:
                s.close()
        with socket.create_connection((LOCALHOST, metrics_port)) as s:
            s.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 405")


def test_the_limit_flags_reach_the_server_process(tmp_path: Path) -> None:
    release = threading.Event()
    with serve_process(tmp_path, "--max-concurrent-calls", "1", "--idle-timeout", "2s",
                       "--keepalive", "30s", "--max-connection-age", "10m") as server, client(
        server.port
    ) as c:
        try:
            upload = c.bytestream.Write.future(stalled_write(b"w" * 2 * CHUNK, release))
            wait_for(lambda: any((tmp_path / STAGING).iterdir()))  # the upload holds the slot
            busy = refused(lambda: c.missing(b"busy"))
            assert busy.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "all 1 calls" in busy.details()
            idle = refused(lambda: upload.result(10))
        finally:
            release.set()
        assert idle.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "no message from the client for 2 s (--idle-timeout)" in idle.details()
