"""``graphkit cache verify``: every damaged entry reported, removed with --repair."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from cacheservers import options
from click.testing import CliRunner, Result

from graphkit.cache.digest import digest_of
from graphkit.cache.server.serve import CacheServer
from graphkit.cache.store.local import DiskBackend

KIB = 1024


def verify(directory: Path, *extra: str) -> Result:
    from graphkit.cli import main

    return CliRunner().invoke(main, ["cache", "verify", "--dir", str(directory), *extra])


def checkpoint(directory: Path) -> None:
    with sqlite3.connect(directory / "cache.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def cache_with(directory: Path, *blobs: bytes) -> None:
    backend = DiskBackend(directory, 1 << 30)
    store = backend.namespace()
    store.put_many([(digest_of(b), b) for b in blobs])
    backend.close()


def file_of(directory: Path, content: bytes) -> Path:
    for path in directory.glob("??/??/*.val"):
        if path.read_bytes()[:64] == content[:64]:
            return path
    raise AssertionError("no value file holds that content")


def test_a_clean_cache_verifies_with_exit_0(tmp_path: Path) -> None:
    cache_with(tmp_path, b"small", b"large " * 20_000)
    result = verify(tmp_path, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["entries"], report["damaged"], report["clean"]) == (2, [], True)


def test_every_kind_of_damage_is_reported_then_repaired(tmp_path: Path) -> None:
    intact, flipped, truncated, deleted, inline = (
        b"intact " * 20_000, b"flipped " * 20_000, b"truncated " * 20_000,
        b"deleted " * 20_000, b"inline blob")
    cache_with(tmp_path, intact, flipped, truncated, deleted, inline)
    backend = DiskBackend(tmp_path, 1 << 30)
    backend.namespace("ci").put_action_result(digest_of(b"action"), b"\xff\xff not a result")
    backend.close()
    path = file_of(tmp_path, flipped)
    data = bytearray(path.read_bytes())
    data[1000] ^= 1
    path.write_bytes(bytes(data))
    path = file_of(tmp_path, truncated)
    path.write_bytes(path.read_bytes()[:1000])
    file_of(tmp_path, deleted).unlink()
    with sqlite3.connect(tmp_path / "cache.db") as db:
        db.execute("UPDATE Cache SET value = ? WHERE key = ?",
                   (b"inline blub", f"c||{digest_of(inline).hash}|{len(inline)}"))
    db.close()
    orphan = tmp_path / "7f" / "00" / "0123456789abcdef0123456789ab.val"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left by a kill")
    old = time.time() - 3600
    os.utime(orphan, (old, old))

    result = verify(tmp_path, "--format", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    damaged = {d["key"]: d["problem"] for d in report["damaged"]}
    key = {b: f"c||{digest_of(b).hash}|{len(b)}" for b in (flipped, truncated, deleted, inline)}
    assert "not to their digest" in damaged[key[flipped]]
    assert "bytes stored, but the digest says" in damaged[key[truncated]]
    assert "missing" in damaged[key[deleted]]
    assert "not to their digest" in damaged[key[inline]]
    assert "does not parse" in damaged[f"a|ci|{digest_of(b'action').hash}|6"]
    assert len(damaged) == 5
    assert (report["orphaned_files"], report["orphaned_bytes"]) == (1, 14)
    assert "run with --repair" in result.stderr

    text = verify(tmp_path, "--repair")
    assert text.exit_code == 0, text.output
    assert "5 damaged entries removed" in text.output
    assert "orphaned files removed: 1 (14 bytes)" in text.output
    assert not orphan.exists()
    again = json.loads(verify(tmp_path, "--format", "json").output)
    assert (again["entries"], again["clean"]) == (1, True)
    store = DiskBackend(tmp_path, 1 << 30).namespace()
    assert store.find_missing([digest_of(intact)]) == []


def test_a_damaged_index_is_reported_and_rebuilt_with_repair(tmp_path: Path) -> None:
    cache_with(tmp_path, b"small", b"large " * 20_000)
    checkpoint(tmp_path)
    (tmp_path / "cache.db").write_bytes(b"garbage" * 1000)
    result = verify(tmp_path)
    assert result.exit_code == 1
    assert "index damaged: file is not a database (not checked)" in result.output
    repaired = verify(tmp_path, "--repair", "--format", "json")
    assert repaired.exit_code == 0, repaired.output
    report = json.loads(repaired.output)
    assert report["index_problem"] == "file is not a database"
    assert report["orphaned_files"] == 1  # The large blob's file, now owned by no row.
    assert (tmp_path / "cache.db.damaged").read_bytes().startswith(b"garbage")
    assert list(tmp_path.glob("??/??/*.val")) == []
    server = CacheServer(options(tmp_path))  # A working, empty cache again.
    server.start()
    server.stop(0)
    assert verify(tmp_path).exit_code == 0


def test_verify_of_a_folder_that_is_not_a_cache_is_an_input_error(tmp_path: Path) -> None:
    result = verify(tmp_path)
    assert result.exit_code == 2
    assert "not a graphkit cache directory" in result.stderr
