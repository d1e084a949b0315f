"""Seals: a value file verified once is read without a hash only while its stat holds.

Every test uses a real cache directory and changes files the way an operator or a
stray process would: in place, keeping the size, with the old mtime put back.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cacheservers import client, pdigest, running

from graphkit.cache.digest import Digest, digest_of
from graphkit.cache.protocol import bs_pb2
from graphkit.cache.store.local import STAGING, DiskBackend, LocalStore
from graphkit.cache.store.unchanged import VerifiedFiles, mark_verified, seal_of
from graphkit.cache.store.verified import DamagedBlob, VerifiedReader
from graphkit.cache.store.verify import verify_cache
from graphkit.cache.wire import read_response_from

KIB = 1024
MIB = 1024 * KIB


def blob(tag: bytes, size: int = 300 * KIB) -> bytes:
    return (tag * (size // len(tag) + 1))[:size]


def upload(store: LocalStore, data: bytes) -> Digest:
    d = digest_of(data)
    writer = store.writer(d)
    for at in range(0, len(data), 256 * KIB):
        writer.write(data[at : at + 256 * KIB])
    writer.commit()
    return d


def value_file(directory: Path) -> Path:
    (found,) = [p for p in directory.rglob("*.val") if STAGING not in p.parts]
    return found


def read_all(store: LocalStore, d: Digest) -> tuple[bytes, bool]:
    """The blob's bytes, and whether they were hashed on the way."""
    handle = store.open(d)
    assert handle is not None
    with handle:
        return handle.read(), isinstance(handle, VerifiedReader)


def change_in_place(path: Path) -> None:
    """Flip a byte without changing the size, then put the old mtime back."""
    before = path.stat()
    with open(path, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0x01]))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )


def until_sealed(store: LocalStore, d: Digest, data: bytes) -> None:
    """Read until a read needs no hash: a file is sealed once its ctime is in the past."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got, hashed = read_all(store, d)
        assert got == data
        if not hashed:
            return
        time.sleep(0.01)
    raise AssertionError("the file was never sealed")


def test_a_stored_upload_is_sealed_and_read_without_a_hash(tmp_path: Path) -> None:
    backend = DiskBackend(tmp_path, 1 << 30)
    store = backend.namespace()
    data = blob(b"sealed upload ")
    d = upload(store, data)
    assert read_all(store, d) == (data, False)
    assert len(backend.verified) == 1


def test_a_sealed_upload_changed_in_place_is_hashed_again_and_dropped(tmp_path: Path) -> None:
    store = DiskBackend(tmp_path, 1 << 30).namespace()
    data = blob(b"changed later ")
    d = upload(store, data)
    change_in_place(value_file(tmp_path))
    handle = store.open(d)
    assert isinstance(handle, VerifiedReader)  # ctime moved: the seal no longer holds.
    with handle, pytest.raises(DamagedBlob):
        handle.read()
    assert store.open(d) is None  # Dropped, so the next upload repairs it.


def test_a_blob_verified_by_a_read_then_modified_on_disk_is_caught(tmp_path: Path) -> None:
    data = blob(b"verified by a read ")
    d = upload(DiskBackend(tmp_path, 1 << 30).namespace(), data)
    # A restarted server knows no seals: the first reads hash, then one seals the file.
    store = DiskBackend(tmp_path, 1 << 30).namespace()
    assert read_all(store, d) == (data, True)
    until_sealed(store, d, data)
    change_in_place(value_file(tmp_path))
    handle = store.open(d)
    assert isinstance(handle, VerifiedReader)
    with handle, pytest.raises(DamagedBlob):
        handle.read()
    assert store.open(d) is None


def test_a_truncated_or_replaced_sealed_file_is_never_served(tmp_path: Path) -> None:
    store = DiskBackend(tmp_path, 1 << 30).namespace()
    data = blob(b"replaced ")
    d = upload(store, data)
    path = value_file(tmp_path)
    damaged = bytearray(data)
    damaged[5] ^= 0x01
    replacement = path.with_suffix(".new")
    replacement.write_bytes(bytes(damaged))
    os.replace(replacement, path)  # Same name and size, another inode.
    handle = store.open(d)
    assert isinstance(handle, VerifiedReader)
    with handle, pytest.raises(DamagedBlob):
        handle.read()
    other = blob(b"truncated ")
    d2 = upload(store, other)
    os.truncate(value_file(tmp_path), 10)
    assert store.open(d2) is None


def test_a_write_after_the_mark_leaves_an_upload_unsealed(tmp_path: Path) -> None:
    seals = VerifiedFiles(tmp_path)
    path = tmp_path / "upload"
    path.write_bytes(b"verified bytes")
    mark = mark_verified(str(path))
    with open(path, "r+b") as f:
        f.write(b"V")  # Another writer, after the bytes were hashed.
    seals.remember_marked("upload", str(path), mark)
    assert not seals.unchanged("upload", path.stat())
    clean = tmp_path / "clean"
    clean.write_bytes(b"verified bytes")
    seals.remember_marked("clean", str(clean), mark_verified(str(clean)))
    assert seals.unchanged("clean", clean.stat())


def test_a_stat_is_not_settled_while_its_ctime_is_not_older_than_the_clock(
    tmp_path: Path,
) -> None:
    seals = VerifiedFiles(tmp_path)
    old = (tmp_path / "clock").stat()
    status: Any = SimpleNamespace(
        st_dev=old.st_dev,
        st_ino=old.st_ino,
        st_size=0,
        st_mtime_ns=old.st_mtime_ns,
        st_ctime_ns=time.time_ns() + 3600 * 10**9,  # Not in the past of the clock.
    )
    assert seals.settled(status) is None
    time.sleep(0.05)
    assert seals.settled(old) == seal_of(old)


def test_seals_are_bounded_and_forgotten(tmp_path: Path) -> None:
    seals = VerifiedFiles(tmp_path, capacity=2)
    files = []
    for name in ("a", "b", "c"):
        path = tmp_path / name
        path.write_bytes(name.encode())
        files.append(path)
        seals.remember(name, seal_of(path.stat()))
    assert len(seals) == 2
    assert not seals.unchanged("a", files[0].stat())  # The oldest went first.
    assert seals.unchanged("c", files[2].stat())
    seals.forget(["c"])
    assert not seals.unchanged("c", files[2].stat())


def test_cache_verify_hashes_a_sealed_blob_like_any_other(tmp_path: Path) -> None:
    # Damage under the file system (a disk, the page cache) leaves the stat alone, so a
    # read trusts the seal; `graphkit cache verify` hashes every entry and finds it.
    backend = DiskBackend(tmp_path, 1 << 30)
    data = blob(b"silent damage ")
    d = upload(backend.namespace(), data)
    change_in_place(value_file(tmp_path))
    backend.close()
    report = verify_cache(tmp_path, repair=False)
    assert [damage.key for damage in report.damaged] == [f"c||{d.hash}|{d.size}"]


def read_frames(handle: Any, size: int, chunk: int) -> bytes:
    """The blob as ByteStream Read sends it: chunks read into their frames, parsed back."""
    data = b""
    while len(data) < size:
        frame, got = read_response_from(handle, chunk)
        assert got
        data += bs_pb2.ReadResponse.FromString(frame).data
    return data


def test_chunks_read_into_their_frames_are_hashed_and_a_damaged_blob_never_completes(
    tmp_path: Path,
) -> None:
    data = blob(b"framed in place ")
    d = upload(DiskBackend(tmp_path, 1 << 30).namespace(), data)
    store = DiskBackend(tmp_path, 1 << 30).namespace()  # No seals: every read hashes.
    handle = store.open(d)
    assert isinstance(handle, VerifiedReader)
    with handle:
        assert read_frames(handle, d.size, 64 * KIB) == data
    change_in_place(value_file(tmp_path))
    handle = store.open(d)
    assert isinstance(handle, VerifiedReader)
    with handle, pytest.raises(DamagedBlob):
        read_frames(handle, d.size, 64 * KIB)
    assert store.open(d) is None


@pytest.mark.parametrize("chunk", [16 * KIB, MIB])
def test_a_blob_written_through_bytestream_is_read_without_a_hash(
    tmp_path: Path, chunk: int
) -> None:
    data = blob(b"uploaded by ByteStream Write ", 3 * MIB + 5)
    with running(tmp_path) as (server, port), client(port) as cache:
        assert cache.write(data, chunk=chunk).committed_size == len(data)
        handle = server._store("").open(digest_of(data))
        assert handle is not None and not isinstance(handle, VerifiedReader)
        handle.close()
        assert cache.read(pdigest(data)) == data
