"""Damaged data on disk is never served as good: found as it is served, dropped, repaired.

Each test stores blobs through a real server, damages the cache directory the way a
disk or an operator would (a flipped byte, a truncated or deleted file, garbage in the
index), and asks again.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cacheservers import Client, client, pdigest, running

from graphkit.cache.protocol import re_pb2
from graphkit.cache.server.serve import CacheServer

KIB = 1024


def code_of(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def pattern(tag: bytes, size: int) -> bytes:
    return (tag * (size // len(tag) + 1))[:size]


def value_file(directory: Path) -> Path:
    """The one blob file of a cache holding a single large blob."""
    (found,) = [p for p in directory.rglob("*.val") if "staging" not in p.parts]
    return found


def flip_byte(path: Path, needle: bytes) -> None:
    """Flip one bit of the byte right after ``needle`` in ``path``."""
    if path.name == "cache.db":  # Move what the write-ahead log holds into the file.
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
    data = bytearray(path.read_bytes())
    at = data.index(needle) + len(needle)
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def batch_read(c: Client, *blobs: bytes) -> list[tuple[int, bytes]]:
    response = c.cas.BatchReadBlobs(
        re_pb2.BatchReadBlobsRequest(digests=[pdigest(b) for b in blobs]))
    return [(r.status.code, r.data) for r in response.responses]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[CacheServer, Client, Path]]:
    directory = tmp_path / "cache"
    with running(directory) as (server, port), client(port) as c:
        yield server, c, directory


def test_a_flipped_byte_in_a_blob_file_is_data_loss_then_repaired_by_an_upload(
    served: tuple[CacheServer, Client, Path],
) -> None:
    _server, c, directory = served
    data = pattern(b"large blob ", 5 * 1024 * KIB)
    c.write(data)
    flip_byte(value_file(directory), b"large blob " * 100)
    code, message = code_of(lambda: c.read(pdigest(data)))
    assert code == grpc.StatusCode.DATA_LOSS
    assert "damaged" in message
    assert c.missing(data) == [pdigest(data).hash]  # Dropped: the next upload repairs it.
    c.write(data)
    assert c.read(pdigest(data)) == data


def test_a_blob_changed_in_place_after_it_was_served_is_data_loss(
    served: tuple[CacheServer, Client, Path],
) -> None:
    # Served once unhashed (sealed when stored), then changed with its size and mtime
    # kept: the change time still tells, and the next read hashes and refuses it.
    _server, c, directory = served
    data = pattern(b"served then changed ", 3 * 1024 * KIB)
    c.write(data)
    assert c.read(pdigest(data)) == data
    path = value_file(directory)
    before = path.stat()
    flip_byte(path, b"served then changed " * 100)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    code, _ = code_of(lambda: c.read(pdigest(data)))
    assert code == grpc.StatusCode.DATA_LOSS
    assert c.missing(data) == [pdigest(data).hash]


def test_a_ranged_read_of_a_damaged_blob_is_data_loss(
    served: tuple[CacheServer, Client, Path],
) -> None:
    _server, c, directory = served
    data = pattern(b"ranged ", 2 * 1024 * KIB)
    c.write(data)
    flip_byte(value_file(directory), b"ranged " * 100)
    code, _ = code_of(lambda: c.read(pdigest(data), offset=10, limit=100))
    assert code == grpc.StatusCode.DATA_LOSS


def test_a_flipped_byte_in_a_batch_read_blob_file_is_not_found(
    served: tuple[CacheServer, Client, Path],
) -> None:
    _server, c, directory = served
    data = pattern(b"file-backed ", 100 * KIB)
    c.upload(data)
    flip_byte(value_file(directory), b"file-backed " * 10)
    assert batch_read(c, data) == [(grpc.StatusCode.NOT_FOUND.value[0], b"")]
    assert c.missing(data) == [pdigest(data).hash]


def test_a_flipped_byte_in_a_small_blob_inside_the_index_is_never_served(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "cache"
    small, other = b"small blob kept inside the index " * 4, b"an intact neighbour"
    with running(directory) as (_server, port), client(port) as c:
        c.upload(small, other)
    flip_byte(directory / "cache.db", b"small blob kept inside the index ")
    with running(directory) as (_server, port), client(port) as c:
        assert batch_read(c, small, other) == [
            (grpc.StatusCode.NOT_FOUND.value[0], b""), (0, other)]
        assert c.missing(small, other) == [pdigest(small).hash]
        c.upload(small)
        assert c.read(pdigest(small)) == small


def test_a_damaged_small_blob_read_through_bytestream_is_not_found(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    small = b"streamed small blob " * 8
    with running(directory) as (_server, port), client(port) as c:
        c.upload(small)
    flip_byte(directory / "cache.db", b"streamed small blob ")
    with running(directory) as (_server, port), client(port) as c:
        code, _ = code_of(lambda: c.read(pdigest(small)))
        assert code == grpc.StatusCode.NOT_FOUND


def test_a_truncated_blob_file_is_not_served_short_and_shows_missing(
    served: tuple[CacheServer, Client, Path],
) -> None:
    _server, c, directory = served
    data = pattern(b"truncated ", 200 * KIB)
    c.upload(data)
    path = value_file(directory)
    path.write_bytes(path.read_bytes()[: 100 * KIB])
    assert batch_read(c, data) == [(grpc.StatusCode.NOT_FOUND.value[0], b"")]
    c.upload(data)
    path = value_file(directory)
    path.write_bytes(path.read_bytes()[: 100 * KIB])
    assert c.missing(data) == [pdigest(data).hash]
    c.upload(data)
    path = value_file(directory)
    path.write_bytes(path.read_bytes() + b"trailing garbage")
    code, _ = code_of(lambda: c.read(pdigest(data)))
    assert code == grpc.StatusCode.NOT_FOUND


def test_a_deleted_blob_file_shows_missing_and_its_action_result_is_not_found(
    served: tuple[CacheServer, Client, Path],
) -> None:
    _server, c, directory = served
    output = pattern(b"output ", 300 * KIB)
    c.write(output)
    action = pdigest(b"action with a large output")
    result = re_pb2.ActionResult(output_files=[
        re_pb2.OutputFile(path="out/big.bin", digest=pdigest(output))])
    c.ac.UpdateActionResult(
        re_pb2.UpdateActionResultRequest(action_digest=action, action_result=result))
    # Served twice: the second answer comes from the memo of complete results.
    for _ in range(2):
        assert c.ac.GetActionResult(re_pb2.GetActionResultRequest(action_digest=action))
    value_file(directory).unlink()
    code, _ = code_of(lambda: c.ac.GetActionResult(
        re_pb2.GetActionResultRequest(action_digest=action)))
    assert code == grpc.StatusCode.NOT_FOUND
    assert c.missing(output) == [pdigest(output).hash]
    c.write(output)
    assert c.ac.GetActionResult(re_pb2.GetActionResultRequest(action_digest=action))


def test_a_blob_whose_index_row_was_rewritten_is_not_served(tmp_path: Path) -> None:
    # Garbage written into the index by something other than the server.
    directory = tmp_path / "cache"
    small = b"rewritten in the index"
    with running(directory) as (_server, port), client(port) as c:
        c.upload(small)
    with sqlite3.connect(directory / "cache.db") as db:
        db.execute("UPDATE Cache SET value = ? WHERE key LIKE 'c|%'", (b"other bytes",))
    db.close()
    with running(directory) as (_server, port), client(port) as c:
        assert batch_read(c, small) == [(grpc.StatusCode.NOT_FOUND.value[0], b"")]
