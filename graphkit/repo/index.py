"""git's index file -> its entries, their stat data and its cache tree (pure).

libgit2 reads the index too, but hands it to Python one entry object at a time
(about 10 µs each: a second at 100,000 files); this reads the whole file with one
``struct`` call per entry. Format: git's Documentation/gitformat-index.txt.

Anything this reader does not know how to read exactly (a split or sparse index,
an unknown version, a mandatory extension it does not know, a checksum that does not
match) gives None, and the caller goes back to libgit2 or git, which say what is wrong.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
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
# Ordered as ``dirty`` builds the same tuple from ``os.lstat``, so that a file whose
# stat data match is proven unchanged by one tuple comparison.
Stat = tuple[int, int, int, int, int, int, int]
_BILLION = 1_000_000_000


@dataclass(frozen=True)
class IndexFile:
    """What the index records: the files as they would be committed, and what git
    last saw of each on disk.

    ``files`` holds stage-0 entries, ``stats`` their stat data. ``unchanged`` are the
    entries git treats as unchanged whatever the disk says (skip-worktree: sparse
    checkouts; assume-unchanged). ``conflicted`` are paths with stages 1-3 (a merge in
    progress); ``intent_to_add`` entries (``git add -N``) are placeholders, not content.
    ``cache_tree`` is the raw TREE extension (see ``valid_trees``). ``mtime_ns`` is the
    index file's own modification time, which git's racy-clean rule compares entries
    against.
    """

    files: dict[str, FileEntry]
    stats: dict[str, Stat]
    unchanged: frozenset[str]
    conflicted: frozenset[str]
    intent_to_add: frozenset[str]
    cache_tree: bytes
    mtime_ns: int


def read_index(path: Path) -> IndexFile | None:
    """The index at ``path`` (absent: an empty index), or None when it holds something
    this reader does not handle (see the module docstring)."""
    try:
        with open(path, "rb") as handle:
            mtime_ns = os.fstat(handle.fileno()).st_mtime_ns
            data = handle.read()
    except FileNotFoundError:
        return IndexFile({}, {}, frozenset(), frozenset(), frozenset(), b"", 0)
    except OSError:
        return None
    # Half a million entries are a million new objects (the collector cost 1.1 s of
    # 2.7 at 100,000 packages).
    try:
        with collector_paused():
            return _parse(data, mtime_ns)
    except (struct.error, ValueError, IndexError):
        return None


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
    files: dict[str, FileEntry] = {}
    stats: dict[str, Stat] = {}
    unchanged: set[str] = set()
    conflicted: set[str] = set()
    intent: set[str] = set()
    unpack, fixed = _ENTRY.unpack_from, _ENTRY.size
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
        if name < previous:
            return None  # git keeps entries sorted; readers bisect them
        previous = name
        path = name.decode("utf-8", "surrogateescape")
        if flags & _STAGE:
            conflicted.add(path)
            continue
        files[path] = FileEntry(mode, oid.hex())
        stats[path] = (m_s * _BILLION + m_ns, c_s * _BILLION + c_ns, ino, size, mode, uid, gid)
        if flags & _ASSUME_VALID or extended & _SKIP_WORKTREE:
            unchanged.add(path)
        if extended & _INTENT_TO_ADD:
            intent.add(path)
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
    return IndexFile(
        files,
        stats,
        frozenset(unchanged),
        frozenset(conflicted),
        frozenset(intent),
        trees,
        mtime_ns,
    )


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
