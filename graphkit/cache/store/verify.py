"""``graphkit cache verify``: every entry of a cache directory checked against itself.

A blob is damaged when its bytes (inline in the index or in its value file) do not
have its digest's size and SHA-256; an action result when it does not parse; an entry
whose key graphkit never writes is damaged too. Orphaned value files (no index row
names them) and a damaged index are reported beside the entries.

With ``repair``, damaged entries and orphans are removed, and a damaged index is moved
aside to ``cache.db.damaged`` and replaced by an empty one (its value files are then
orphans and go too): the directory is a working, smaller cache afterwards. The server
verifies what it serves anyway; this is for an operator who wants to know, or to clean
up after a disk problem. Repairs are meant for a stopped server: a running one keeps
remembering results whose rows a repair deletes until it next looks them up.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import diskcache

from graphkit.cache.actions import parse_action_result
from graphkit.cache.store.integrity import (
    INDEX_FILE,
    ORPHAN_GRACE_SECONDS,
    Swept,
    index_problem,
    orphans,
    remove,
)
from graphkit.cache.store.local import open_existing
from graphkit.errors import InputError

_HASH_CHUNK = 1024 * 1024
_DAMAGED_SUFFIX = ".damaged"


@dataclass(frozen=True)
class Damage:
    """One damaged entry: its index key and what is wrong with it."""

    key: str
    problem: str


@dataclass(frozen=True)
class Verification:
    """What ``graphkit cache verify`` found (and, with ``repaired``, removed)."""

    directory: str
    index_problem: str | None
    entries: int
    damaged: tuple[Damage, ...]
    orphans: Swept
    repaired: bool

    @property
    def clean(self) -> bool:
        """Nothing wrong was found."""
        return self.index_problem is None and not self.damaged and not self.orphans.files

    def as_json(self) -> dict[str, object]:
        """The JSON twin of the text rendering."""
        return {
            "directory": self.directory,
            "index_problem": self.index_problem,
            "entries": self.entries,
            "damaged": [asdict(d) for d in self.damaged],
            "orphaned_files": self.orphans.files,
            "orphaned_bytes": self.orphans.bytes,
            "repaired": self.repaired,
            "clean": self.clean,
        }


def verify_cache(directory: Path, *, repair: bool) -> Verification:
    """Check every entry of the cache in ``directory``; remove damage when ``repair``."""
    if not (directory / INDEX_FILE).exists():
        raise InputError(
            "not a graphkit cache directory (no cache.db)",
            path=str(directory),
            hint="pass the --dir that `graphkit cache serve` uses",
        )
    cache, problem = _open(directory)
    if problem is not None and not repair:
        # Entries cannot be listed without an index; its value files are not orphans.
        return Verification(str(directory), problem, 0, (), Swept(), repaired=False)
    grace = ORPHAN_GRACE_SECONDS
    if cache is None or problem is not None:
        if cache is not None:
            cache.close()
        _move_aside(directory)
        cache, _ = _open(directory)
        assert cache is not None, "a fresh index always opens"
        grace = 0.0  # No writer can have used the damaged index: every file is orphaned.
    try:
        damaged = list(_damaged_entries(cache, directory))
        entries = len(cache)
        found = orphans(cache, directory, grace=grace)
        swept = Swept(len(found), _sizes(found))
        if repair:
            _delete(cache, [rowid for rowid, _ in damaged])
            swept = remove(found)
    finally:
        cache.close()
    return Verification(
        str(directory), problem, entries, tuple(d for _, d in damaged), swept, repaired=repair
    )


def _open(directory: Path) -> tuple[diskcache.Cache | None, str | None]:
    """The cache (settings unchanged) and what is wrong with its index, if anything."""
    try:
        cache = open_existing(directory)
    except sqlite3.Error as exc:
        return None, str(exc)
    return cache, index_problem(cache)


def _move_aside(directory: Path) -> None:
    """Move ``cache.db`` and its journal files to ``*.damaged`` (replacing older ones)."""
    for name in (INDEX_FILE, f"{INDEX_FILE}-wal", f"{INDEX_FILE}-shm"):
        source = directory / name
        if not source.exists():
            continue
        target = directory / (name + _DAMAGED_SUFFIX)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        source.rename(target)


def _damaged_entries(cache: diskcache.Cache, directory: Path) -> Iterator[tuple[int, Damage]]:
    rows = cache._sql("SELECT rowid, key, raw, mode, filename, value FROM Cache")
    for rowid, key, raw, mode, filename, value in rows:
        problem = _problem(directory, key, raw, mode, filename, value)
        if problem is not None:
            yield rowid, Damage(str(key), problem)


def _problem(
    directory: Path, key: Any, raw: int, mode: int, filename: str | None, value: Any
) -> str | None:
    """What is wrong with one index row, or None."""
    if not raw or not isinstance(key, str) or key[:2] not in ("c|", "a|"):
        return "not an entry graphkit writes"
    path = directory / filename if filename else None
    if key.startswith("c|"):
        _head, hexdigest, size_text = key.rsplit("|", 2)
        if not size_text.isdigit():
            return "not an entry graphkit writes"
        return _blob_problem(path, value, hexdigest, int(size_text))
    if path is not None:
        try:
            value = path.read_bytes()
        except OSError as exc:
            return f"value file {filename} cannot be read: {exc.strerror}"
    if not isinstance(value, bytes) or parse_action_result(value) is None:
        return "stored action result does not parse"
    return None


def _blob_problem(path: Path | None, value: Any, hexdigest: str, size: int) -> str | None:
    if path is None:
        if not isinstance(value, bytes):
            return "inline value is not bytes"
        chunks: Iterator[bytes] = iter((value,))
        length = len(value)
    else:
        try:
            length = os.stat(path).st_size
        except OSError as exc:
            return f"value file {path.name} is missing or unreadable: {exc.strerror}"
        chunks = _read_chunks(path)
    if length != size:
        return f"{length} bytes stored, but the digest says {size}"
    sha = hashlib.sha256()
    try:
        for chunk in chunks:
            sha.update(chunk)
    except OSError as exc:
        return f"value file cannot be read: {exc.strerror}"
    if sha.hexdigest() != hexdigest:
        return f"bytes hash to {sha.hexdigest()}, not to their digest"
    return None


def _read_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(_HASH_CHUNK):
            yield chunk


def _delete(cache: diskcache.Cache, rowids: list[int]) -> None:
    """Delete rows and their value files (diskcache removes files after the commit)."""
    with cache._transact(retry=True) as (sql, cleanup):
        for rowid in rowids:
            found = sql("SELECT filename FROM Cache WHERE rowid = ?", (rowid,)).fetchone()
            if found is not None:
                cleanup(found[0])
                sql("DELETE FROM Cache WHERE rowid = ?", (rowid,))


def _sizes(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total
