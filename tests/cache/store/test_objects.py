"""The object-storage tier against a real S3-protocol server (moto) on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphkit.cache.digest import digest_of
from graphkit.cache.store.objects import (
    BackendError,
    BackendOptions,
    ObjectStore,
    blob_key,
    parse_backend_url,
)
from graphkit.errors import CacheError, InputError
from tests.s3server import BUCKET, S3Server, s3_server


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture
def store(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[ObjectStore]:
    for name, value in s3.environment.items():
        monkeypatch.setenv(name, value)
    objects = ObjectStore(BackendOptions(s3.url(request.node.name)))
    yield objects
    objects.close()


def test_blobs_round_trip_under_their_digest(store: ObjectStore, s3: S3Server) -> None:
    data = b"shared between replicas"
    d = digest_of(data)
    assert store.present("", [d]) == set()
    store.put("", d, data)
    assert store.present("", [d, digest_of(b"other")]) == {d}
    assert store.get("", d) == data
    assert store.get("ci/main", d) is None  # Instances are separate namespaces.
    assert f"test_blobs_round_trip_under_their_digest/{blob_key('', d)}" in s3.object_keys()


def test_a_blob_that_does_not_match_its_digest_is_never_uploaded(store: ObjectStore) -> None:
    d = digest_of(b"the real bytes")
    with pytest.raises(CacheError, match="do not match"):
        store.put("", d, b"other bytes!!!")
    assert store.present("", [d]) == set()


def test_a_damaged_object_is_not_served_and_is_removed(store: ObjectStore, s3: S3Server) -> None:
    data = b"x" * 1000
    d = digest_of(data)
    store.put("", d, data)
    key = f"test_a_damaged_object_is_not_served_and_is_removed/{blob_key('', d)}"
    s3.client().put_object(Bucket=BUCKET, Key=key, Body=b"y" * 1000)  # type: ignore[attr-defined]
    assert store.get("", d) is None
    assert key not in s3.object_keys()


def test_files_are_checked_before_upload(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    path = tmp_path / "blob"
    path.write_bytes(data)
    d = digest_of(data)
    store.put_file("", d, str(path))
    assert store.get("", d) == data
    wrong = digest_of(b"something else")
    with pytest.raises(CacheError, match="does not match"):
        store.put_file("", wrong, str(path))


def test_action_results_round_trip(store: ObjectStore) -> None:
    action = digest_of(b"action")
    assert store.get_action_result("", action) is None
    store.put_action_result("", action, b"result bytes")
    assert store.get_action_result("", action) == b"result bytes"


def test_an_unreachable_backend_fails_fast_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    store = ObjectStore(
        BackendOptions("s3://b/p", endpoint="http://127.0.0.1:1", region="us-east-1",
                       timeout_seconds=1.0, connect_timeout_seconds=0.5)
    )
    started = time.monotonic()
    with pytest.raises(BackendError) as caught:
        store.get("", digest_of(b"x"))
    assert time.monotonic() - started < 5
    assert "\n" not in str(caught.value)


def test_a_slow_backend_costs_at_most_the_timeout(store: ObjectStore, s3: S3Server) -> None:
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
        ObjectStore(BackendOptions({s3.url("killed")!r})).put_file("", d, {str(big)!r})
        print("done", flush=True)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               env={**os.environ, **s3.environment}, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "start"
    time.sleep(0.3)
    process.kill()
    process.wait()
    assert not [k for k in s3.object_keys() if k.startswith("cache/killed/")]


def test_backend_urls_are_checked() -> None:
    assert parse_backend_url("s3://bucket/prefix") == "s3://bucket/prefix"
    assert parse_backend_url("gs://bucket") == "gs://bucket"
    for bad in ("bucket/prefix", "s3://", "http://host/x", "/tmp/dir"):
        with pytest.raises(InputError, match="not an object-store URL"):
            parse_backend_url(bad)
