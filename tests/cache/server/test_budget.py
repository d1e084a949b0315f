"""``--max-size`` bounds the disk, uploads in flight included; no blob is acknowledged
that is already gone."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cacheservers import client, pdigest, running, wait_for

from graphkit.cache.digest import InvalidRequest, digest_of
from graphkit.cache.protocol import bs_pb2
from graphkit.cache.store.base import NoRoom
from graphkit.cache.store.local import STAGING, DiskBackend

KIB, MIB = 1024, 1024 * 1024
RESOURCE = "uploads/3f1c7a52-0000-4000-8000-000000000001/blobs/{hash}/{size}"


def code_of(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def pattern(tag: int, size: int) -> bytes:
    return (f"{tag:08d}".encode() * (size // 8 + 1))[:size]


def test_a_write_declaring_an_enormous_size_is_refused_before_its_bytes_are_read(
    tmp_path: Path,
) -> None:
    sent: list[int] = []
    chunk = b"x" * MIB
    name = RESOURCE.format(hash=hashlib.sha256(b"whatever").hexdigest(), size=2**63 - 1)

    def requests() -> Iterator[bs_pb2.WriteRequest]:
        for i in range(400):  # 400 MiB, if the server kept reading.
            sent.append(i)
            yield bs_pb2.WriteRequest(
                resource_name=name if i == 0 else "", write_offset=i * MIB, data=chunk)

    with running(tmp_path / "cache", max_size=50 * MIB) as (_server, port), client(port) as c:
        code, message = code_of(lambda: c.bytestream.Write(requests()))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "larger than this cache's limit" in message
    assert len(sent) < 50
    assert list((tmp_path / "cache" / STAGING).iterdir()) == []


def test_a_blob_larger_than_the_cache_is_refused_and_evicts_nothing(tmp_path: Path) -> None:
    with running(tmp_path / "cache", max_size=4 * MIB) as (_server, port), client(port) as c:
        kept = pattern(1, 512 * KIB)
        c.write(kept)
        too_large = pattern(2, 5 * MIB)
        code, message = code_of(lambda: c.write(too_large, chunk=MIB))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "--max-blob-size" in message
        assert c.missing(kept, too_large) == [pdigest(too_large).hash]
        # The default limit is a quarter of --max-size: 1 MiB passes, 1 MiB + 1 does not.
        c.write(pattern(3, MIB), chunk=MIB)
        code, _ = code_of(lambda: c.write(pattern(4, MIB + 1), chunk=MIB))
        assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_uploads_in_flight_count_against_max_size(tmp_path: Path) -> None:
    started, finish = threading.Event(), threading.Event()
    first = pattern(5, 3 * MIB)
    d = pdigest(first)

    def slow_requests() -> Iterator[bs_pb2.WriteRequest]:
        yield bs_pb2.WriteRequest(
            resource_name=RESOURCE.format(hash=d.hash, size=d.size_bytes), data=first[:MIB])
        started.set()
        assert finish.wait(20)
        yield bs_pb2.WriteRequest(write_offset=MIB, data=first[MIB:], finish_write=True)

    with running(tmp_path / "cache", max_size=5 * MIB, max_blob_size=4 * MIB) as (
        _server, port), client(port) as c:
        stored = [pattern(10 + i, 512 * KIB) for i in range(4)]
        for b in stored:
            c.write(b)
        result: list[Any] = []
        upload = threading.Thread(
            target=lambda: result.append(c.bytestream.Write(slow_requests())))
        upload.start()
        assert started.wait(20)
        wait_for(lambda: any((tmp_path / "cache" / STAGING).iterdir()))  # Reserved.
        # 3 MiB are held for the upload in flight, so only 2 MiB remain for stored blobs
        # and further uploads: the oldest stored blob made room, a second 3 MiB is refused.
        assert c.missing(*stored) == [pdigest(stored[0]).hash]
        code, message = code_of(lambda: c.write(pattern(6, 3 * MIB), chunk=MIB))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "in flight" in message
        finish.set()
        upload.join(20)
        assert result[0].committed_size == 3 * MIB
        assert c.read(d) == first
        c.write(pattern(6, 3 * MIB), chunk=MIB)  # Room again once the first is stored.


def test_a_backend_holds_volume_plus_reservations_under_max_size(tmp_path: Path) -> None:
    backend = DiskBackend(tmp_path, max_size=4 * MIB, max_blob_size=4 * MIB)
    store = backend.namespace()
    for i in range(6):
        b = pattern(i, 600 * KIB)
        store.put_many([(digest_of(b), b)])
    held = store.writer(digest_of(pattern(99, 2 * MIB)))
    assert backend.volume() + 2 * MIB <= backend.max_size
    with pytest.raises(NoRoom):
        store.writer(digest_of(pattern(98, 3 * MIB)))
    held.abort()
    store.writer(digest_of(pattern(98, 3 * MIB))).abort()
    with pytest.raises(InvalidRequest, match="larger than this cache's limit"):
        DiskBackend(tmp_path / "small", max_size=4 * MIB).namespace().writer(
            digest_of(pattern(97, MIB + 1)))


def test_blobs_their_own_write_evicted_are_never_acknowledged(tmp_path: Path) -> None:
    # A cache whose budget leaves no room for the index to grow: storing ten small
    # blobs grows the index past max_size, and the eviction that follows takes them.
    probe = DiskBackend(tmp_path / "probe", max_size=1 << 30)
    index = probe._index_bytes()
    probe.close()
    blobs = [f"small blob {i} ".encode() * 90 for i in range(10)]
    total = sum(len(b) for b in blobs)
    backend = DiskBackend(tmp_path / "cache", max_size=index + total + 100)
    store = backend.namespace()
    with pytest.raises(NoRoom, match="evicted as soon as it was stored"):
        store.put_many([(digest_of(b), b) for b in blobs])
    assert store.find_missing([digest_of(blobs[0])]) == [digest_of(blobs[0])]


def test_a_batch_larger_than_max_blob_size_is_fine_when_each_blob_fits(tmp_path: Path) -> None:
    store = DiskBackend(tmp_path, max_size=4 * MIB, max_blob_size=64 * KIB).namespace()
    blobs = [pattern(i, 60 * KIB) for i in range(8)]  # 480 KiB in all.
    assert store.put_many([(digest_of(b), b) for b in blobs]) == [None] * 8
    too_large = pattern(9, 65 * KIB)
    (verdict,) = store.put_many([(digest_of(too_large), too_large)])
    assert verdict is not None and "larger than this cache's limit" in verdict
