"""The server as a real process: SIGTERM drains, SIGKILL leaves no partial blob,
Prometheus metrics, and ``graphkit cache stats``."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cacheservers import client, pdigest, serve_process, wait_for
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from graphkit.cache.protocol import bs_pb2, re_pb2
from graphkit.cache.store.local import STAGING
from graphkit.cli import main

CHUNK = 16 * 1024


def slow_upload(data: bytes, started: threading.Event, delay: float) -> Iterator[Any]:
    d = pdigest(data)
    name = f"uploads/slow/blobs/{d.hash}/{d.size_bytes}"
    for i in range(0, len(data), CHUNK):
        yield bs_pb2.WriteRequest(resource_name=name if i == 0 else "", write_offset=i,
                                  data=data[i : i + CHUNK], finish_write=i + CHUNK >= len(data))
        started.set()
        time.sleep(delay)


def test_sigterm_lets_an_upload_in_flight_finish_then_exits(tmp_path: Path) -> None:
    data = bytes(range(256)) * (40 * CHUNK // 256)  # 40 chunks, ~1 s at 25 ms each
    started = threading.Event()
    outcome: dict[str, Any] = {}
    with serve_process(tmp_path) as server, client(server.port) as c:
        def upload() -> None:
            try:
                outcome["response"] = c.bytestream.Write(slow_upload(data, started, 0.025))
            except grpc.RpcError as exc:  # pragma: no cover - the failure being tested for
                outcome["error"] = exc

        thread = threading.Thread(target=upload)
        thread.start()
        assert started.wait(10)
        # SIGTERM only once the server holds the call: a call still in the client's
        # send queue at shutdown is refused (CANCELLED), which is not what this tests.
        wait_for(lambda: any((tmp_path / STAGING).iterdir()))
        server.signal(signal.SIGTERM)
        thread.join(20)
        assert "error" not in outcome, outcome.get("error")
        assert outcome["response"].committed_size == len(data)
        assert server.wait(20) == 0
        stderr = server.process.stderr.read()  # type: ignore[union-attr]
        events = [json.loads(line)["event"] for line in stderr.splitlines() if line.startswith("{")]
        assert events[-2:] == ["shutting_down", "stopped"]
    with serve_process(tmp_path) as again, client(again.port) as c:
        assert c.read(pdigest(data)) == data


def test_sigkill_mid_upload_leaves_no_partial_blob_after_restart(tmp_path: Path) -> None:
    data = bytes(range(256)) * (256 * CHUNK // 256)  # 4 MiB, never finished
    kept = b"committed before the crash" * 5000
    started = threading.Event()
    with serve_process(tmp_path) as server, client(server.port) as c:
        c.write(kept)

        def upload() -> None:
            with contextlib.suppress(grpc.RpcError):  # Expected: the server dies under it.
                c.bytestream.Write(slow_upload(data, started, 0.02))

        thread = threading.Thread(target=upload, daemon=True)
        thread.start()
        assert started.wait(10)
        staging = tmp_path / STAGING
        wait_for(lambda: any(p.stat().st_size > 0 for p in staging.iterdir()))
        server.signal(signal.SIGKILL)
        assert server.wait(10) == -signal.SIGKILL
        thread.join(10)
    assert any(staging.iterdir())  # The partial upload is on disk, but must stay invisible.
    with serve_process(tmp_path) as again, client(again.port) as c:
        assert c.missing(data) == [pdigest(data).hash]
        with pytest.raises(grpc.RpcError) as info:
            c.read(pdigest(data))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert c.read(pdigest(kept)) == kept
        assert list(staging.iterdir()) == []  # The dead process's leftover is gone.


def test_metrics_endpoint_serves_prometheus_text(tmp_path: Path) -> None:
    with serve_process(tmp_path, "--metrics-listen", "127.0.0.1:0") as server, client(
        server.port
    ) as c:
        assert server.metrics_port is not None
        c.upload(b"counted")
        c.cas.BatchReadBlobs(re_pb2.BatchReadBlobsRequest(
            digests=[pdigest(b"counted"), pdigest(b"absent")]))
        with pytest.raises(grpc.RpcError):
            c.ac.GetActionResult(re_pb2.GetActionResultRequest(action_digest=pdigest(b"a")))
        url = f"http://127.0.0.1:{server.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            text = response.read().decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("graphkit_cache_hits_total", (("store", "cas"),))] == 1
    assert samples[("graphkit_cache_misses_total", (("store", "cas"),))] == 1
    assert samples[("graphkit_cache_misses_total", (("store", "ac"),))] == 1
    assert samples[("graphkit_cache_received_bytes_total", ())] == 7
    assert samples[("graphkit_cache_requests_total",
                    (("code", "NOT_FOUND"), ("method", "GetActionResult")))] == 1
    assert samples[("graphkit_cache_request_duration_seconds_count",
                    (("method", "BatchUpdateBlobs"),))] == 1
    assert samples[("graphkit_cache_calls_in_flight", ())] == 0


def test_stats_command_reports_entries_and_hit_rate_after_shutdown(tmp_path: Path) -> None:
    action = pdigest(b"action")
    with serve_process(tmp_path) as server, client(server.port) as c:
        c.upload(b"out")
        result = re_pb2.ActionResult(output_files=[
            re_pb2.OutputFile(path="o", digest=pdigest(b"out"))])
        c.ac.UpdateActionResult(re_pb2.UpdateActionResultRequest(
            action_digest=action, action_result=result))
        c.ac.GetActionResult(re_pb2.GetActionResultRequest(action_digest=action))
        with pytest.raises(grpc.RpcError):
            c.ac.GetActionResult(re_pb2.GetActionResultRequest(action_digest=pdigest(b"b")))
        server.signal(signal.SIGTERM)
        assert server.wait() == 0
    runner = CliRunner()
    result_json = runner.invoke(main, ["cache", "stats", "--dir", str(tmp_path),
                                       "--format", "json"])
    assert result_json.exit_code == 0, result_json.output
    stats = json.loads(result_json.output)
    assert (stats["entries"], stats["ac_hits"], stats["ac_misses"]) == (2, 1, 1)
    assert stats["ac_hit_rate"] == 0.5
    text = runner.invoke(main, ["cache", "stats", "--dir", str(tmp_path)])
    assert "action cache hit rate  50.0% (1 of 2)" in text.output


def test_serve_with_bad_flags_is_a_usage_error(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["cache", "serve", "--listen", "nowhere", "--dir",
                                  str(tmp_path), "--max-size", "1GiB"])
    assert result.exit_code == 2
    assert "graphkit: error: --listen 'nowhere' is not HOST:PORT" in result.output
    result = runner.invoke(main, ["cache", "serve", "--listen", "127.0.0.1:0", "--dir",
                                  str(tmp_path), "--max-size", "lots"])
    assert result.exit_code == 2
    assert "--max-size 'lots' is not a size" in result.output
    result = runner.invoke(main, ["cache", "serve", "--listen", "127.0.0.1:0", "--dir",
                                  str(tmp_path), "--max-size", "1GiB", "--tls-cert",
                                  str(tmp_path / "server.pem"), "--tls-key",
                                  str(tmp_path / "server.key")])
    assert result.exit_code == 2
    assert result.output == (f"graphkit: error: {tmp_path / 'server.pem'}: --tls-cert: "
                             "cannot read: no such file\n")
    for flag, value, message in [
        ("--max-concurrent-calls", "0", "--max-concurrent-calls '0' is not a positive whole"),
        ("--idle-timeout", "soon", "--idle-timeout 'soon' is not a duration"),
        ("--keepalive", "0s", "--keepalive must be longer than zero"),
        ("--max-connection-age", "forever", "--max-connection-age 'forever' is not a duration"),
    ]:
        result = runner.invoke(main, ["cache", "serve", "--listen", "127.0.0.1:0", "--dir",
                                      str(tmp_path), "--max-size", "1GiB", flag, value])
        assert result.exit_code == 2, (flag, result.output)
        assert message in result.output
