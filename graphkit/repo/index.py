"""git's index file -> its entries, their stat data and its cache tree (pure).

libgit2 reads the index too, but hands it to Python one entry object at a time
(about 10 µs each: a second at 100,000 files); this reads the whole file with one
``struct`` call per entry, into columns (paths, modes, blob ids, stat data) rather than
objects per entry, and can keep the columns for the next run (``read_index``'s
``cache``). Format: git's Documentation/gitformat-index.txt.

Anything this reader does not know how to read exactly (a split or sparse index,
an unknown version, a mandatory extension it does not know, a checksum that does not
match) gives None, and the caller goes back to libgit2 or git, which say what is wrong.
"""

from __future__ import annotations

import array
import bisect
import contextlib
import hashlib
import os
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from graphkit.heap import collector_paused
from graphkit.model import FileEntry

_HEADER = struct.Struct(">4sII")
# ctime s, ns; mtime s, ns; dev; ino; mode; uid; gid; size; SHA-1; flags
_ENTRY = struct.Struct(">IIIIIIIIII20sH")
_EXTENDED_FLAGS = struct.Struct(">H")
_OID = 20  # SHA-1; libgit2 cannot open a SHA-256 repository anyway
_CHECKSUM = 20

_ASSUME_VALID, _EXTENDED, _STAGE, _NAME_LENGTH = 0x8000, 0x4000, 0x3000, 0x0FFF
_SKIP_WORKTREE, _INTENT_TO_ADD = 0x4000, 0x2000
# One cache-tree entry's header: name NUL entry-count SP subtree-count LF (one C call
# per folder: 70,000 at 20,000 packages).
_TREE_ENTRY = re.compile(rb"([^\0]*)\0(-?[0-9]+) ([0-9]+)\n")

# (mtime ns, ctime ns, inode, size, mode, uid, gid), each as git stores it: seconds,
# inode, size, uid and gid truncated to 32 bits; nanoseconds 0 where git stored none.
# ``IndexFile.stats`` holds them packed by STAT, one after another in the entries'
# order; ``dirty`` packs ``os.lstat``'s fields the same way, so that a file whose stat
# data match is proven unchanged by one comparison of bytes.
Stat = tuple[int, int, int, int, int, int, int]
STAT = struct.Struct("=qqQQQQQ")
_BILLION = 1_000_000_000


class Entries(Mapping[str, FileEntry]):
    """The index's stage-0 entries by path, in the index's order, each ``FileEntry``
    made when asked for: the paths, modes and blob ids are kept as three columns, not
    as an object per entry (building those was most of reading a 500,000-entry index,
    where a worktree query looks up a handful of them)."""

    def __init__(self, paths: list[str], modes: array.array[int], oids: bytes, ordered: bool):
        self.paths = paths
        self._modes = modes
        self._oids = oids
        # The paths sort as text as they sort as bytes in the index (true unless a name
        # is not UTF-8): a lookup is a bisection, with no table of positions to build.
        self._ordered = ordered
        self._positions: dict[str, int] | None = None

    def position(self, path: str) -> int:
        """Where ``path`` is among ``paths``, or -1."""
        if self._ordered:
            at = bisect.bisect_left(self.paths, path)
            return at if at < len(self.paths) and self.paths[at] == path else -1
        if self._positions is None:
            self._positions = dict(zip(self.paths, range(len(self.paths)), strict=True))
        return self._positions.get(path, -1)

    def entry(self, at: int) -> FileEntry:
        """The entry at position ``at``."""
        return FileEntry(self._modes[at], self._oids[at * _OID : (at + 1) * _OID].hex())

    def __getitem__(self, path: str) -> FileEntry:
        at = self.position(path) if isinstance(path, str) else -1
        if at < 0:
            raise KeyError(path)
        return self.entry(at)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.position(path) >= 0

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def oids(self) -> bytes:
        """Every entry's blob id, 20 bytes each, in the index's order."""
        return self._oids

    def modes_bytes(self) -> bytes:
        """Every entry's mode, as the bytes of an ``array("I")``."""
        return self._modes.tobytes()

    def as_dict(self) -> dict[str, FileEntry]:
        """Every entry, as a dict in the index's order."""
        hexed = self._oids.hex()  # one C call, not one per entry
        size = 2 * _OID
        return {
            path: FileEntry(mode, hexed[at * size : (at + 1) * size])
            for at, (path, mode) in enumerate(zip(self.paths, self._modes, strict=True))
        }


@dataclass(frozen=True)
class IndexFile:
    """What the index records: the files as they would be committed, and what git
    last saw of each on disk.

    ``files`` holds stage-0 entries, ``stats`` their stat data (``STAT`` each, in the
    same order; see ``stat``). ``unchanged`` are the entries git treats as unchanged
    whatever the disk says (skip-worktree: sparse checkouts; assume-unchanged).
    ``conflicted`` are paths with stages 1-3 (a merge in progress); ``intent_to_add``
    entries (``git add -N``) are placeholders, not content. ``cache_tree`` is the raw
    TREE extension (see ``valid_trees``). ``mtime_ns`` is the index file's own
    modification time, which git's racy-clean rule compares entries against. ``utf8``:
    every path is UTF-8 (a name that is not was decoded with surrogate escapes).
    """

    files: Entries
    stats: bytes
    unchanged: frozenset[str]
    conflicted: frozenset[str]
    intent_to_add: frozenset[str]
    cache_tree: bytes
    mtime_ns: int
    utf8: bool = True

    def stat(self, at: int) -> Stat:
        """The stat data of the entry at position ``at`` of ``files``."""
        found: Stat = STAT.unpack_from(self.stats, at * STAT.size)
        return found


def _empty(mtime_ns: int = 0) -> IndexFile:
    nothing: frozenset[str] = frozenset()
    entries = Entries([], array.array("I"), b"", True)
    return IndexFile(entries, b"", nothing, nothing, nothing, b"", mtime_ns)


def read_index(path: Path, cache: Path | None = None) -> IndexFile | None:
    """The index at ``path`` (absent: an empty index), or None when it holds something
    this reader does not handle (see the module docstring).

    ``cache``: a file where the parsed index is kept for the next call, keyed by the
    index's checksum trailer and stat data (see ``_load_cached``)."""
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            key = b""
            if cache is not None and info.st_size >= _HEADER.size + _CHECKSUM:
                handle.seek(info.st_size - _CHECKSUM)
                trailer = handle.read(_CHECKSUM)
                # index.skipHash writes zeros: nothing then names the content.
                if len(trailer) == _CHECKSUM and trailer != bytes(_CHECKSUM):
                    key = _CACHE_KEY.pack(
                        trailer, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino
                    )
                    found = _load_cached(cache, key, info.st_mtime_ns)
                    if found is not None:
                        return found
                handle.seek(0)
            data = handle.read()
    except FileNotFoundError:
        return _empty()
    except OSError:
        return None
    # Half a million entries are a million new objects (the collector cost 1.1 s of
    # 2.7 at 100,000 packages).
    try:
        with collector_paused():
            parsed = _parse(data, info.st_mtime_ns)
    except (struct.error, ValueError, IndexError, OverflowError):
        return None
    if parsed is not None and cache is not None and key:
        _save_cached(cache, key, parsed)
    return parsed


def _parse(data: bytes, mtime_ns: int) -> IndexFile | None:
    if len(data) < _HEADER.size + _CHECKSUM:
        return None
    signature, version, count = _HEADER.unpack_from(data, 0)
    if signature != b"DIRC" or version not in (2, 3, 4):
        return None
    body = memoryview(data)[:-_CHECKSUM]
    trailer = data[-_CHECKSUM:]
    # index.skipHash writes zeros instead of the checksum.
    if trailer != bytes(_CHECKSUM) and hashlib.sha1(body).digest() != trailer:
        return None
    names: list[bytes] = []
    modes = array.array("I")
    oids: list[bytes] = []
    stats: list[bytes] = []
    unchanged: set[bytes] = set()
    conflicted: set[bytes] = set()
    intent: set[bytes] = set()
    unpack, fixed, pack = _ENTRY.unpack_from, _ENTRY.size, STAT.pack
    offset, previous = _HEADER.size, b""
    for _ in range(count):
        (c_s, c_ns, m_s, m_ns, _dev, ino, mode, uid, gid, size, oid, flags) = unpack(data, offset)
        at = offset + fixed
        extended = 0
        if flags & _EXTENDED:
            if version < 3:
                return None
            (extended,) = _EXTENDED_FLAGS.unpack_from(data, at)
            at += 2
        if version == 4:
            # The path is the previous one minus its last N bytes, plus a suffix.
            strip, at = _varint(data, at)
            end = data.index(b"\0", at)
            if strip > len(previous):
                return None
            name = previous[: len(previous) - strip] + data[at:end]
            offset = end + 1
        else:
            length = flags & _NAME_LENGTH
            end = data.index(b"\0", at) if length == _NAME_LENGTH else at + length
            name = data[at:end]
            offset = offset + ((end - offset + 8) & ~7)  # 1-8 NULs pad to a multiple of 8
        if name < previous or b"\0" in name:
            return None  # git keeps entries sorted (readers bisect them), names whole
        previous = name
        if flags & _STAGE:
            conflicted.add(name)
            continue
        names.append(name)
        modes.append(mode)
        oids.append(oid)
        stats.append(pack(m_s * _BILLION + m_ns, c_s * _BILLION + c_ns, ino, size, mode, uid, gid))
        if flags & _ASSUME_VALID or extended & _SKIP_WORKTREE:
            unchanged.add(name)
        if extended & _INTENT_TO_ADD:
            intent.add(name)
    if offset > len(body):
        return None
    trees = b""
    while offset < len(body):
        signature, size = struct.unpack_from(">4sI", data, offset)
        start, offset = offset + 8, offset + 8 + size
        if offset > len(body):
            return None
        if signature == b"TREE":
            trees = data[start:offset]
        elif not b"A" <= signature[:1] <= b"Z":
            return None  # a mandatory extension (split index "link", sparse "sdir", ...)
    joined = b"\0".join(names)
    try:
        text, utf8 = joined.decode("utf-8"), True
    except UnicodeDecodeError:
        text, utf8 = joined.decode("utf-8", "surrogateescape"), False
    paths = text.split("\0") if names else []
    return IndexFile(
        Entries(paths, modes, b"".join(oids), utf8),
        b"".join(stats),
        _names(unchanged),
        _names(conflicted),
        _names(intent),
        trees,
        mtime_ns,
        utf8,
    )


def _names(raw: set[bytes]) -> frozenset[str]:
    return frozenset(name.decode("utf-8", "surrogateescape") for name in raw)


# The parsed index kept for the next run (``read_index``'s ``cache``): reading its
# columns back is a few C calls where parsing the index takes one Python step per entry
# (1.6-2.2 s at 100,000 packages). Below .git, written by graphkit alone, but read as
# untrusted bytes: only ``struct``, ``array`` and UTF-8 decoding touch it (no pickle),
# every length is checked, and a digest of the body must match; anything else is a
# miss, and the index is parsed again.
_CACHE_MAGIC = b"graphkit-index\0\0"
_CACHE_FORMAT = 1
# What names the index file: its checksum trailer (a SHA-1 of everything before it),
# and its size, mtime, ctime and inode (an index edited in place, trailer untouched).
_CACHE_KEY = struct.Struct("<20sQqqQ")
# magic, format, key, the body's XXH3-128
_CACHE_HEAD = struct.Struct(f"<16sI{_CACHE_KEY.size}s16s")
# entries; bytes of the paths, conflicted, unchanged, intent-to-add, cache tree; utf8
_CACHE_SIZES = struct.Struct("<QQQQQQB")


def _load_cached(cache: Path, key: bytes, mtime_ns: int) -> IndexFile | None:
    """The index parsed before, if ``cache`` holds it under ``key``; else None."""
    try:
        data = cache.read_bytes()
    except OSError:
        return None
    try:
        with collector_paused():
            return _decode_cached(data, key, mtime_ns)
    except (struct.error, ValueError, IndexError, UnicodeDecodeError):
        return None


def _decode_cached(data: bytes, key: bytes, mtime_ns: int) -> IndexFile | None:
    import xxhash  # loaded here: most commands never read the index

    magic, version, found_key, digest = _CACHE_HEAD.unpack_from(data, 0)
    if (magic, version, found_key) != (_CACHE_MAGIC, _CACHE_FORMAT, key):
        return None
    body = memoryview(data)[_CACHE_HEAD.size :]
    if xxhash.xxh3_128_digest(body) != digest:
        return None  # damaged
    count, *sizes, utf8 = _CACHE_SIZES.unpack_from(body, 0)
    modes = array.array("I")
    widths = [sizes[0], count * modes.itemsize, count * _OID, count * STAT.size, *sizes[1:]]
    if _CACHE_SIZES.size + sum(widths) != len(body):
        return None
    parts: list[bytes] = []
    at = _CACHE_SIZES.size
    for width in widths:
        parts.append(bytes(body[at : at + width]))
        at += width
    joined, mode_bytes, oids, stats, conflicted, unchanged, intent, trees = parts
    text = joined.decode("utf-8") if utf8 else joined.decode("utf-8", "surrogateescape")
    paths = text.split("\0") if count else []
    if len(paths) != count:
        return None
    modes.frombytes(mode_bytes)
    ordered = bool(utf8)
    return IndexFile(
        Entries(paths, modes, oids, ordered),
        stats,
        _split(unchanged),
        _split(conflicted),
        _split(intent),
        trees,
        mtime_ns,
        ordered,
    )


def _split(joined: bytes) -> frozenset[str]:
    text = joined.decode("utf-8", "surrogateescape")
    return frozenset(text.split("\0")) if text else frozenset()


def _joined(names: frozenset[str]) -> bytes:
    return "\0".join(sorted(names)).encode("utf-8", "surrogateescape")


def _save_cached(cache: Path, key: bytes, index: IndexFile) -> None:
    """Keep ``index`` in ``cache`` for the next call; a cache that cannot be written
    only makes the next call slower."""
    import xxhash

    entries = index.files
    paths = "\0".join(entries.paths).encode("utf-8", "surrogateescape")
    sets = [_joined(index.conflicted), _joined(index.unchanged), _joined(index.intent_to_add)]
    sizes = _CACHE_SIZES.pack(
        len(entries), len(paths), *(len(part) for part in sets), len(index.cache_tree),
        index.utf8,
    )  # fmt: skip
    body = b"".join(
        [sizes, paths, entries.modes_bytes(), entries.oids, index.stats, *sets, index.cache_tree]
    )
    head = _CACHE_HEAD.pack(_CACHE_MAGIC, _CACHE_FORMAT, key, xxhash.xxh3_128_digest(body))
    temporary = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as handle:
            handle.write(head)
            handle.write(body)
        os.replace(temporary, cache)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """git's offset encoding (varint.c): each continuation adds one before shifting."""
    byte = data[at]
    at += 1
    value = byte & 0x7F
    while byte & 0x80:
        byte = data[at]
        at += 1
        value = ((value + 1) << 7) | (byte & 0x7F)
    return value, at


def root_tree(index: IndexFile) -> str | None:
    """The tree id the index's files would be committed as, when its cache tree says
    so (None when the root entry is invalid or there is no cache tree): the first entry
    of ``valid_trees``, read without parsing the others."""
    data = index.cache_tree
    if not data.startswith(b"\0"):  # the root's name is empty
        return None
    newline = data.find(b"\n")
    if newline < 0:
        return None
    entries, _ = data[1:newline].split(b" ")
    if int(entries) < 0:
        return None
    oid = data[newline + 1 : newline + 1 + _OID]
    return oid.hex() if len(oid) == _OID else None


def valid_trees(index: IndexFile) -> dict[str, str]:
    """Each folder ("" for the root) whose cache-tree entry is valid, with the tree id
    its files would be committed as: git's record of which folders ``git add`` left alone.

    The TREE extension lists folders in pre-order, each ``name NUL entries SP subtrees
    LF`` then its tree id when ``entries`` is not -1 (an invalidated folder).
    """
    data = index.cache_tree
    trees: dict[str, str] = {}
    # (folder path, subtrees still to read) of the folders being filled.
    stack: list[tuple[str, int]] = []
    at = 0
    match = _TREE_ENTRY.match
    while at < len(data):
        found = match(data, at)
        if found is None:
            raise ValueError("malformed cache tree")
        raw, entries, subtrees = found.groups()
        at = found.end()
        while stack and stack[-1][1] == 0:
            stack.pop()
        if stack:
            parent, left = stack[-1]
            stack[-1] = (parent, left - 1)
            name = raw.decode("utf-8", "surrogateescape")
            folder = f"{parent}/{name}" if parent else name
        else:
            folder = ""
        if entries[0] != 45:  # "-": an invalidated folder has no tree id
            trees[folder] = data[at : at + _OID].hex()
            at += _OID
        stack.append((folder, int(subtrees)))
    return trees
