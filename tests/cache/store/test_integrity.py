"""A damaged cache directory: a clear one-line error, never a traceback; orphans swept."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from cacheservers import options
from click.testing import CliRunner

from graphkit.cache.digest import digest_of
from graphkit.cache.server.serve import CacheServer
from graphkit.cache.store.local import DiskBackend
from graphkit.cli import main
from graphkit.errors import InputError

KIB = 1024


def filled_cache(directory: Path, small: int = 400) -> list[bytes]:
    """A cache with ``small`` inline blobs (a multi-page index) and one blob file."""
    backend = DiskBackend(directory, 1 << 30)
    store = backend.namespace()
    blobs = [f"small blob {i:05d} ".encode() * 60 for i in range(small)]
    blobs.append(b"large blob " * 20_000)
    store.put_many([(digest_of(b), b) for b in blobs])
    backend.close()
    with sqlite3.connect(directory / "cache.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return blobs


def truncate(index: Path) -> None:
    index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])


def garbage_inside(index: Path) -> None:
    data = bytearray(index.read_bytes())
    data[4096 : 4096 + 8192] = b"\xa5" * 8192  # Pages 2 and 3: b-tree pages.
    index.write_bytes(bytes(data))


def replaced_by_a_folder(index: Path) -> None:
    index.unlink()
    index.mkdir()
    (index / "something").write_text("x")


def garbage_header(index: Path) -> None:
    index.write_bytes(b"this is not an SQLite database" * 100)


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": truncate,
    "garbage inside": garbage_inside,
    "a folder": replaced_by_a_folder,
    "garbage header": garbage_header,
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_index_is_a_one_line_error_for_serve_and_stats(
    tmp_path: Path, damage: str,
) -> None:
    directory = tmp_path / "cache"
    filled_cache(directory)
    for leftover in directory.glob("cache.db-*"):
        leftover.unlink()
    DAMAGE[damage](directory / "cache.db")
    runner = CliRunner()
    for args in (
        ["cache", "serve", "--listen", "127.0.0.1:0", "--max-size", "1GiB"],
        ["cache", "stats"],
    ):
        result = runner.invoke(main, [*args, "--dir", str(directory)])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"graphkit: error: {directory / 'cache.db'}: ")
        assert "the cache index is damaged" in lines[0]
        assert "graphkit cache verify" in lines[0]


def test_an_intact_index_opens_and_keeps_its_blobs(tmp_path: Path) -> None:
    # The control for the damage above: the same cache, untouched, serves everything.
    blobs = filled_cache(tmp_path)
    store = DiskBackend(tmp_path, 1 << 30).namespace()
    assert store.find_missing([digest_of(b) for b in blobs]) == []


@pytest.mark.parametrize(
    "content",
    ["not json", "[1, 2]", '{"ac_hits": "many"}', '{"ac_hits": [1]}', '{"ac_hits": 1e400}',
     '{"ac_hits": -3}', '{"ac_hits": true}', '{"ac_hits": 1.5}'],
)
def test_a_garbage_stats_file_is_a_one_line_error_and_the_server_counts_from_zero(
    tmp_path: Path, content: str,
) -> None:
    DiskBackend(tmp_path, 1 << 30).close()
    (tmp_path / "stats.json").write_text(content)
    result = CliRunner().invoke(main, ["cache", "stats", "--dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"graphkit: error: {tmp_path / 'stats.json'}: ")
    assert len(result.stderr.strip().splitlines()) == 1
    server = CacheServer(options(tmp_path))
    server.start()
    server.metrics.add("ac_hits", 2)
    server.stop(0)
    assert json.loads((tmp_path / "stats.json").read_text())["ac_hits"] == 2


def test_a_stats_file_that_is_a_folder_is_a_one_line_error(tmp_path: Path) -> None:
    DiskBackend(tmp_path, 1 << 30).close()
    (tmp_path / "stats.json").mkdir()
    result = CliRunner().invoke(main, ["cache", "stats", "--dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "stats.json" in result.stderr and "Traceback" not in result.output


def test_files_orphaned_between_rename_and_commit_are_swept_at_start(tmp_path: Path) -> None:
    blobs = filled_cache(tmp_path, small=0)
    (kept,) = list(tmp_path.glob("??/??/*.val"))
    # What a kill between the rename into place and the index commit leaves behind.
    orphan = kept.parent.parent / "7f" / "0123456789abcdef0123456789ab.val"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"x" * 5000)
    server = CacheServer(options(tmp_path))
    try:
        assert (server._backend.swept.files, server._backend.swept.bytes) == (1, 5000)
        assert not orphan.exists() and kept.exists()
        assert server._store("").find_missing([digest_of(blobs[-1])]) == []
    finally:
        server.stop(0)


def test_a_young_orphan_beside_a_live_writer_is_spared(tmp_path: Path) -> None:
    filled_cache(tmp_path, small=0)
    young = tmp_path / "7f" / "00" / "0123456789abcdef0123456789ab.val"
    young.parent.mkdir(parents=True)
    young.write_bytes(b"just renamed, row not committed yet")
    backend = DiskBackend(tmp_path, 1 << 30)  # As the runner opens it: with a grace period.
    assert backend.swept.files == 0 and young.exists()


def test_damaged_index_error_is_an_input_error(tmp_path: Path) -> None:
    filled_cache(tmp_path)
    garbage_header(tmp_path / "cache.db")
    for leftover in tmp_path.glob("cache.db-*"):
        leftover.unlink()
    with pytest.raises(InputError, match="the cache index is damaged"):
        DiskBackend(tmp_path, 1 << 30)
    shutil.rmtree(tmp_path)
