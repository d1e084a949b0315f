"""Two cache servers sharing one bucket on a real S3-protocol server (moto) on loopback."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from grpc_health.v1 import health_pb2, health_pb2_grpc

from graphkit.cache.protocol import bs_pb2, re_pb2
from graphkit.cache.server.serve import BACKEND_SERVICE
from graphkit.cache.server.stats import read_stats
from graphkit.cache.store.objects import BackendOptions
from graphkit.cache.store.uploads import QUEUE_DIRECTORY
from graphkit.cli import main
from tests.cacheservers import client, pdigest, running, serve_process
from tests.s3server import BUCKET, S3Server, s3_server
from tests.slowproxy import slow_proxy


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _s3_environment(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in s3.environment.items():
        monkeypatch.setenv(name, value)


def backend(s3: S3Server, prefix: str, **changes: float) -> BackendOptions:
    return BackendOptions(s3.url(prefix), **changes)  # type: ignore[arg-type]


def wait_for(condition: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def queued(directory: Path) -> int:
    return len([p for p in (directory / QUEUE_DIRECTORY).iterdir() if not p.name.startswith(".")])


def test_a_blob_and_result_written_through_one_replica_are_served_by_the_other(
    s3: S3Server, tmp_path: Path
) -> None:
    shared = backend(s3, "two-replicas")
    with running(tmp_path / "a", backend=shared) as (_, port_a), \
            running(tmp_path / "b", backend=shared) as (_, port_b):
        blob, big = b"built once", b"z" * (3 << 20)
        with client(port_a) as a:
            assert a.upload(blob).responses[0].status.code == 0
            a.write(big)
            action = pdigest(b"action")
            result = re_pb2.ActionResult(
                output_files=[re_pb2.OutputFile(path="out", digest=pdigest(blob))])
            a.ac.UpdateActionResult(re_pb2.UpdateActionResultRequest(
                action_digest=action, action_result=result))
        wait_for(lambda: queued(tmp_path / "a") == 0)
        with client(port_b) as b:
            assert b.missing(blob, big, b"never stored") == [pdigest(b"never stored").hash]
            got = b.ac.GetActionResult(re_pb2.GetActionResultRequest(action_digest=action))
            assert got.output_files[0].digest.hash == pdigest(blob).hash
            assert b.read(pdigest(big)) == big
            response = b.cas.BatchReadBlobs(
                re_pb2.BatchReadBlobsRequest(digests=[pdigest(blob)]))
            assert response.responses[0].data == blob
        # B filled its own front: the bucket is no longer needed for these.
        with running(tmp_path / "b") as (_, port_local), client(port_local) as local:
            assert local.missing(blob, big) == []


def test_a_result_whose_blobs_the_bucket_lacks_is_not_served(
    s3: S3Server, tmp_path: Path
) -> None:
    shared = backend(s3, "incomplete")
    with running(tmp_path / "a", backend=shared) as (_, port_a), \
            running(tmp_path / "b", backend=shared) as (_, port_b):
        action = pdigest(b"action")
        result = re_pb2.ActionResult(
            output_files=[re_pb2.OutputFile(path="out", digest=pdigest(b"never uploaded"))])
        with client(port_a) as a:
            a.ac.UpdateActionResult(re_pb2.UpdateActionResultRequest(
                action_digest=action, action_result=result))
        wait_for(lambda: queued(tmp_path / "a") == 0)
        with client(port_b) as b, pytest.raises(grpc.RpcError) as caught:
            b.ac.GetActionResult(re_pb2.GetActionResultRequest(action_digest=action))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def health(port: int, service: str) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        status: int = stub.Check(health_pb2.HealthCheckRequest(service=service),
                                 timeout=5).status
        return status


def test_an_outage_degrades_but_loses_nothing_and_nothing_hangs(
    s3: S3Server, tmp_path: Path
) -> None:
    slow_ok = backend(s3, "outage", timeout_seconds=1.0, connect_timeout_seconds=0.5)
    before, during = b"stored before the outage", b"stored during the outage"
    with running(tmp_path / "a", backend=slow_ok) as (_, port), client(port) as c:
        c.upload(before)
        wait_for(lambda: queued(tmp_path / "a") == 0)
        assert health(port, BACKEND_SERVICE) == health_pb2.HealthCheckResponse.SERVING
        s3.pause()
        try:
            started = time.monotonic()
            assert c.upload(during).responses[0].status.code == 0  # Durable locally.
            assert c.missing(before, during) == []
            assert c.cas.BatchReadBlobs(re_pb2.BatchReadBlobsRequest(
                digests=[pdigest(before)]), timeout=10).responses[0].data == before
            assert c.missing(b"unknown") == [pdigest(b"unknown").hash]
            assert time.monotonic() - started < 10
            wait_for(lambda: health(port, BACKEND_SERVICE)
                     == health_pb2.HealthCheckResponse.NOT_SERVING)
            assert health(port, "") == health_pb2.HealthCheckResponse.SERVING
            assert queued(tmp_path / "a") >= 1
        finally:
            s3.resume()
        wait_for(lambda: queued(tmp_path / "a") == 0, 30)
        wait_for(lambda: health(port, BACKEND_SERVICE)
                 == health_pb2.HealthCheckResponse.SERVING)
    with running(tmp_path / "fresh", backend=slow_ok) as (_, port), client(port) as c:
        assert c.missing(before, during) == []


def test_the_upload_queue_survives_a_restart(s3: S3Server, tmp_path: Path) -> None:
    down = BackendOptions("s3://graphkit-cache/restart", endpoint="http://127.0.0.1:1",
                          timeout_seconds=0.5, connect_timeout_seconds=0.5)
    blob = b"acknowledged while the bucket was unreachable"
    with running(tmp_path / "a", backend=down) as (_, port), client(port) as c:
        assert c.upload(blob).responses[0].status.code == 0
    assert queued(tmp_path / "a") == 1
    with running(tmp_path / "a", backend=backend(s3, "restart")):
        wait_for(lambda: queued(tmp_path / "a") == 0)
    with running(tmp_path / "b", backend=backend(s3, "restart")) as (_, port), client(port) as c:
        assert c.missing(blob) == []


def test_stats_show_the_queue(tmp_path: Path) -> None:
    down = BackendOptions("s3://graphkit-cache/stats", endpoint="http://127.0.0.1:1",
                          timeout_seconds=0.5, connect_timeout_seconds=0.5)
    with running(tmp_path, backend=down) as (_, port), client(port) as c:
        c.upload(b"one", b"two")
    assert read_stats(tmp_path).upload_queue == 2
    result = CliRunner().invoke(main, ["cache", "stats", "--dir", str(tmp_path)])
    assert "upload queue" in result.output and " 2" in result.output


def test_a_bad_backend_url_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["cache", "serve", "--listen", "127.0.0.1:0", "--dir",
                                       str(tmp_path), "--max-size", "1GiB",
                                       "--backend", "bucket/prefix"])
    assert result.exit_code == 2
    assert "not an object-store URL" in result.output


def test_calls_end_by_their_deadline_when_the_bucket_stalls(tmp_path: Path) -> None:
    # The bucket accepts connections and never answers; its request timeout is a minute
    # away, so only each call's own deadline can end the wait for it.
    with slow_proxy(None) as stalled:
        stuck = BackendOptions("s3://graphkit-cache/stalled", endpoint=stalled.endpoint,
                               timeout_seconds=60, connect_timeout_seconds=60)
        with running(tmp_path, backend=stuck) as (_, port), client(port) as c:
            here, absent = b"in the front", b"nowhere"
            assert c.upload(here).responses[0].status.code == 0
            bs = f"blobs/{pdigest(absent).hash}/{len(absent)}"
            calls = {
                "FindMissingBlobs": lambda t: [d.hash for d in c.cas.FindMissingBlobs(
                    re_pb2.FindMissingBlobsRequest(blob_digests=[pdigest(here), pdigest(absent)]),
                    timeout=t).missing_blob_digests],
                "BatchReadBlobs": lambda t: [(r.status.code, r.data) for r in c.cas.BatchReadBlobs(
                    re_pb2.BatchReadBlobsRequest(digests=[pdigest(here), pdigest(absent)]),
                    timeout=t).responses],
                "GetActionResult": lambda t: c.ac.GetActionResult(
                    re_pb2.GetActionResultRequest(action_digest=pdigest(b"action")), timeout=t),
                "Read": lambda t: list(c.bytestream.Read(
                    bs_pb2.ReadRequest(resource_name=bs), timeout=t)),
            }
            answers: dict[str, object] = {}
            for name, call in calls.items():
                started = time.monotonic()
                try:
                    answers[name] = call(0.8)
                except grpc.RpcError as exc:
                    answers[name] = exc.code()
                assert time.monotonic() - started < 0.8, name
            # Each answered in time, from the front: the bucket's part counts as absent.
            assert answers == {
                "FindMissingBlobs": [pdigest(absent).hash],
                "BatchReadBlobs": [(0, here), (grpc.StatusCode.NOT_FOUND.value[0], b"")],
                "GetActionResult": grpc.StatusCode.NOT_FOUND,
                "Read": grpc.StatusCode.NOT_FOUND,
            }
            # Cuts that short only mean the client was in a hurry; one after a second
            # and more means the bucket is slow: the replica is degraded, and skips it.
            assert health(port, BACKEND_SERVICE) == health_pb2.HealthCheckResponse.SERVING
            assert calls["FindMissingBlobs"](3.0) == [pdigest(absent).hash]
            assert health(port, BACKEND_SERVICE) == health_pb2.HealthCheckResponse.NOT_SERVING
            started = time.monotonic()
            assert calls["FindMissingBlobs"](3.0) == [pdigest(absent).hash]
            assert time.monotonic() - started < 0.5


def test_a_write_asks_only_the_front_whether_the_blob_is_there(
    s3: S3Server, tmp_path: Path
) -> None:
    # A bucket that answers every request a second late: a Write that asked it whether
    # the new blob is there before receiving it would wait that second for every blob.
    fresh = b"a new blob, in no front and no bucket" * 1000
    with slow_proxy(s3.endpoint, delay=1.0) as proxy:
        slow = BackendOptions(s3.url("write"), endpoint=proxy.endpoint)
        with running(tmp_path / "a", backend=slow) as (_, port), client(port) as c:
            started = time.monotonic()
            assert c.write(fresh, timeout=30).committed_size == len(fresh)
            assert time.monotonic() - started < 0.9
            # A second Write of it is answered from the front.
            assert c.write(fresh, chunk=16).committed_size == len(fresh)
            wait_for(lambda: queued(tmp_path / "a") == 0)
    # And it reached the bucket, for the other replicas.
    with running(tmp_path / "b", backend=backend(s3, "write")) as (_, port), client(port) as c:
        assert c.missing(fresh) == []


def test_a_replica_killed_mid_upload_uploads_everything_after_a_restart(
    s3: S3Server, tmp_path: Path
) -> None:
    blobs = [os.urandom(20 << 20) for _ in range(3)]  # Each one a multipart upload.
    prefix = "killed-replica"
    # Requests to the bucket are slowed, so the kill lands in the middle of uploads.
    with slow_proxy(s3.endpoint, delay=0.02) as proxy, \
            serve_process(tmp_path / "a", "--backend", s3.url(prefix),
                          "--backend-endpoint", proxy.endpoint) as replica:
        with client(replica.port) as c:
            for data in blobs:
                assert c.write(data, chunk=1 << 20).committed_size == len(data)
        # Acknowledged; now wait until a multipart upload is under way, and kill.
        wait_for(lambda: multipart_uploads(s3, prefix) > 0)
        replica.signal(signal.SIGKILL)
        assert replica.wait() == -signal.SIGKILL
    assert queued(tmp_path / "a") >= 1
    assert_nothing_partial(s3, prefix)
    with serve_process(tmp_path / "a", "--backend", s3.url(prefix)):
        wait_for(lambda: queued(tmp_path / "a") == 0, 60)
    assert_nothing_partial(s3, prefix)
    assert len([k for k in s3.object_keys() if k.startswith(f"{prefix}/cas/")]) == len(blobs)
    with serve_process(tmp_path / "b", "--backend", s3.url(prefix)) as other, \
            client(other.port) as c:
        for data in blobs:
            assert c.read(pdigest(data)) == data


def multipart_uploads(s3: S3Server, prefix: str) -> int:
    listed = s3.client().list_multipart_uploads(Bucket=BUCKET)  # type: ignore[attr-defined]
    return len([u for u in listed.get("Uploads", []) if u["Key"].startswith(prefix)])


def assert_nothing_partial(s3: S3Server, prefix: str) -> None:
    """Every object under the prefix holds exactly the bytes its key names."""
    bucket = s3.client()
    for key in s3.object_keys():
        if key.startswith(f"{prefix}/cas/"):
            data = bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read()  # type: ignore[attr-defined]
            assert f"{hashlib.sha256(data).hexdigest()}-{len(data)}" == key.rsplit("/", 1)[1]


def test_a_batch_goes_up_to_the_bucket_many_blobs_at_once(
    s3: S3Server, tmp_path: Path
) -> None:
    blobs = [f"output {i}".encode() for i in range(40)]
    with slow_proxy(s3.endpoint, delay=0.2) as proxy:
        slow = BackendOptions(s3.url("batch"), endpoint=proxy.endpoint)
        with running(tmp_path / "a", backend=slow) as (_, port), client(port) as c:
            assert all(r.status.code == 0 for r in c.upload(*blobs).responses)
            assert read_stats(tmp_path / "a").upload_queue == 40
            started = time.monotonic()
            wait_for(lambda: queued(tmp_path / "a") == 0)
            # One request at a time would take 40 x 0.2 s; 16 at a time, about 3 x 0.2 s.
            assert time.monotonic() - started < 4
    with running(tmp_path / "b", backend=backend(s3, "batch")) as (_, port), client(port) as c:
        assert c.missing(*blobs) == []
