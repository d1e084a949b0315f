"""The object-storage tier against a real S3-protocol server (moto) on loopback."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from graphkit.cache.deadline import Deadline
from graphkit.cache.digest import digest_of
from graphkit.cache.store.objects import (
    PART_BYTES,
    BackendError,
    BackendOptions,
    DeadlineReached,
    ObjectStore,
    blob_key,
    parse_backend_url,
)
from graphkit.errors import CacheError, InputError
from tests.s3server import BUCKET, S3Server
from tests.slowproxy import slow_proxy


def test_blobs_round_trip_under_their_digest(objects: ObjectStore, s3: S3Server) -> None:
    data = b"shared between replicas"
    d = digest_of(data)
    assert objects.present("", [d]) == set()
    objects.put("", d, data)
    assert objects.present("", [d, digest_of(b"other")]) == {d}
    assert objects.get("", d) == data
    assert objects.get("ci/main", d) is None  # Instances are separate namespaces.
    assert f"test_blobs_round_trip_under_their_digest/{blob_key('', d)}" in s3.object_keys()


def test_a_blob_that_does_not_match_its_digest_is_never_uploaded(objects: ObjectStore) -> None:
    d = digest_of(b"the real bytes")
    with pytest.raises(CacheError, match="do not match"):
        objects.put("", d, b"other bytes!!!")
    assert objects.present("", [d]) == set()


def test_a_damaged_object_is_not_served_and_is_removed(objects: ObjectStore, s3: S3Server) -> None:
    data = b"x" * 1000
    d = digest_of(data)
    objects.put("", d, data)
    key = f"test_a_damaged_object_is_not_served_and_is_removed/{blob_key('', d)}"
    s3.client().put_object(Bucket=BUCKET, Key=key, Body=b"y" * 1000)  # type: ignore[attr-defined]
    assert objects.get("", d) is None
    # The delete is sent and not waited for (see ObjectStore._drop_damaged).
    deadline = time.monotonic() + 10
    while key in s3.object_keys():
        assert time.monotonic() < deadline, "the damaged object was not removed"
        time.sleep(0.05)


def test_files_are_checked_before_upload(objects: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    path = tmp_path / "blob"
    path.write_bytes(data)
    d = digest_of(data)
    with path.open("rb") as source:
        objects.put_stream("", d, source)
    assert objects.get("", d) == data
    wrong = digest_of(b"something else")
    with path.open("rb") as source, pytest.raises(CacheError, match="does not match"):
        objects.put_stream("", wrong, source)


class CountingFile(io.FileIO):
    """A real file that remembers the largest read asked of it."""

    largest = 0

    def read(self, size: int | None = -1) -> bytes:
        self.largest = max(self.largest, size if size is not None and size >= 0 else 1 << 62)
        return super().read(size)


def test_a_large_blob_is_streamed_up_in_parts_and_down_in_ranges(
    objects: ObjectStore, tmp_path: Path
) -> None:
    path = tmp_path / "big"
    data = os.urandom(2 * PART_BYTES + 12345)
    path.write_bytes(data)
    d = digest_of(data)
    with CountingFile(path) as source:
        objects.put_stream("", d, source)
    assert source.largest == PART_BYTES  # Never the whole blob in memory.
    chunks = objects.stream("", d)
    assert chunks is not None
    received = list(chunks)
    assert b"".join(received) == data
    assert max(len(c) for c in received) == PART_BYTES


def test_a_large_blob_that_turns_out_wrong_at_its_end_leaves_nothing(
    objects: ObjectStore, s3: S3Server, tmp_path: Path
) -> None:
    data = os.urandom(2 * PART_BYTES + 1)
    path = tmp_path / "big"
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # Only the last byte differs.
    with path.open("rb") as source, pytest.raises(CacheError, match="does not match"):
        objects.put_stream("", digest_of(data), source)
    prefix = "test_a_large_blob_that_turns_out_wrong_at_its_end_leaves_nothing/"
    assert not [k for k in s3.object_keys() if k.startswith(prefix)]
    uploads = s3.client().list_multipart_uploads(Bucket=BUCKET)  # type: ignore[attr-defined]
    assert not [u for u in uploads.get("Uploads", []) if u["Key"].startswith(prefix)]


def test_a_batch_read_asks_the_bucket_concurrently(
    objects: ObjectStore, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = [f"blob {i}".encode() for i in range(24)]
    for data in blobs:
        objects.put("", digest_of(data), data)
    prefix = "test_a_batch_read_asks_the_bucket_concurrently"
    with slow_proxy(s3.endpoint, delay=0.3) as proxy:
        slow = ObjectStore(BackendOptions(s3.url(prefix), endpoint=proxy.endpoint))
        started = time.monotonic()
        found = slow.get_many("", [digest_of(b) for b in blobs])
        present = slow.present("", [digest_of(b) for b in blobs])
        elapsed = time.monotonic() - started
        slow.close()
    assert found == {digest_of(b): b for b in blobs}
    assert present == set(found)
    # One at a time this takes 2 x 24 x 0.3 s; at most 16 at a time, about 4 x 0.3 s.
    assert elapsed < 5, elapsed
    assert 1 < proxy.most_at_once <= 16


@pytest.mark.parametrize("call", ["present", "get_many", "get_action_result", "stream"])
def test_a_stalled_backend_call_ends_at_the_deadline(
    call: str, monkeypatch: pytest.MonkeyPatch, s3: S3Server
) -> None:
    for name, value in s3.environment.items():
        monkeypatch.setenv(name, value)
    d = digest_of(b"x")
    with slow_proxy(None) as stalled:
        # The store's own timeout is far away: only the deadline can end the call.
        objects = ObjectStore(BackendOptions("s3://b/p", endpoint=stalled.endpoint,
                                           timeout_seconds=60, connect_timeout_seconds=60))
        ask = {
            "present": lambda deadline: objects.present("", [d], deadline),
            "get_many": lambda deadline: objects.get_many("", [d, digest_of(b"y")], deadline),
            "get_action_result": lambda deadline: objects.get_action_result("", d, deadline),
            "stream": lambda deadline: objects.stream("", d, deadline),
        }[call]
        started = time.monotonic()
        with pytest.raises(DeadlineReached):
            ask(Deadline.after(1.0))
        assert 0.7 < time.monotonic() - started < 1.0  # Stops before the deadline itself.
        with pytest.raises(DeadlineReached):
            ask(Deadline.after(0.0))  # No time left: the bucket is not even asked.
        objects.close()


def test_action_results_round_trip(objects: ObjectStore) -> None:
    action = digest_of(b"action")
    assert objects.get_action_result("", action) is None
    objects.put_action_result("", action, b"result bytes")
    assert objects.get_action_result("", action) == b"result bytes"


def test_an_unreachable_backend_fails_fast_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    objects = ObjectStore(
        BackendOptions("s3://b/p", endpoint="http://127.0.0.1:1", region="us-east-1",
                       timeout_seconds=1.0, connect_timeout_seconds=0.5)
    )
    started = time.monotonic()
    with pytest.raises(BackendError) as caught:
        objects.get("", digest_of(b"x"))
    assert time.monotonic() - started < 5
    assert "\n" not in str(caught.value)


def test_a_slow_backend_costs_at_most_the_timeout(objects: ObjectStore, s3: S3Server) -> None:
    slow = ObjectStore(BackendOptions(s3.url("slow"), timeout_seconds=1.0,
                                      connect_timeout_seconds=0.5))
    s3.pause()
    try:
        started = time.monotonic()
        with pytest.raises(BackendError):
            slow.get("", digest_of(b"x"))
        assert time.monotonic() - started < 6
    finally:
        s3.resume()


def test_a_writer_killed_mid_upload_leaves_nothing_in_the_bucket(
    s3: S3Server, tmp_path: Path
) -> None:
    # A 64 MiB file goes up as a multipart upload; the process dies part-way through.
    big = tmp_path / "big"
    with big.open("wb") as f:
        for _ in range(64):
            f.write(os.urandom(1 << 20))
    script = textwrap.dedent(f"""
        import hashlib, sys
        from graphkit.cache.digest import Digest
        from graphkit.cache.store.objects import BackendOptions, ObjectStore
        data = open({str(big)!r}, "rb").read()
        d = Digest(hashlib.sha256(data).hexdigest(), len(data))
        print("start", flush=True)
        with open({str(big)!r}, "rb") as source:
            ObjectStore(BackendOptions({s3.url("killed")!r})).put_stream("", d, source)
        print("done", flush=True)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               env={**os.environ, **s3.environment}, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "start"
    time.sleep(0.3)
    process.kill()
    process.wait()
    assert process.returncode == -9
    assert not [k for k in s3.object_keys() if k.startswith("killed/")]


def test_backend_urls_are_checked() -> None:
    assert parse_backend_url("s3://bucket/prefix") == "s3://bucket/prefix"
    assert parse_backend_url("gs://bucket") == "gs://bucket"
    for bad in ("bucket/prefix", "s3://", "http://host/x", "/tmp/dir"):
        with pytest.raises(InputError, match="not an object-store URL"):
            parse_backend_url(bad)
