"""git's index file read directly: the same entries libgit2 reads, and None (so the
caller asks libgit2 or git) for anything it does not read exactly."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from pathlib import Path

import pygit2
from gitrepo import GitRepo

from graphkit.repo.index import read_index

MakeRepo = Callable[[dict[str, str]], GitRepo]
FILES = {"a.txt": "a\n", "libs/core/b.py": "B = 1\n", "libs/core/sub/c.py": "C = 1\n"}


def index_bytes(repo: GitRepo) -> bytearray:
    return bytearray((repo.root / ".git" / "index").read_bytes())


def rewrite(repo: GitRepo, data: bytearray, *, checksum: bool = True) -> Path:
    if checksum:
        data[-20:] = hashlib.sha1(bytes(data[:-20])).digest()
    path = repo.root / ".git" / "index"
    path.write_bytes(bytes(data))
    return path


def test_entries_are_those_libgit2_reads(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    found = read_index(repo.root / ".git" / "index")
    assert found is not None
    libgit2 = {e.path: (e.mode, str(e.id)) for e in repo.repo.index}
    assert {p: (e.mode, e.oid) for p, e in found.files.items()} == libgit2
    assert found.files.keys() == found.stats.keys()
    assert not found.unchanged and not found.conflicted and not found.intent_to_add


def test_a_missing_index_is_empty(tmp_path: Path) -> None:
    found = read_index(tmp_path / "index")
    assert found is not None and found.files == {}


def test_a_wrong_checksum_is_left_to_libgit2(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    data = index_bytes(repo)
    data[-1] ^= 0xFF
    assert read_index(rewrite(repo, data, checksum=False)) is None


def test_a_mandatory_extension_it_does_not_know_is_left_to_libgit2(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    original = index_bytes(repo)
    data = bytearray(original)
    data[-20:-20] = b"sdir" + struct.pack(">I", 0)  # a sparse index's marker
    assert read_index(rewrite(repo, data)) is None
    data = bytearray(original)
    data[-20:-20] = b"ZZZZ" + struct.pack(">I", 2) + b"xx"  # optional: skipped
    found = read_index(rewrite(repo, data))
    assert found is not None and len(found.files) == len(FILES)


def test_entries_out_of_order_are_left_to_libgit2(make_repo: MakeRepo) -> None:
    repo = make_repo({"a.txt": "a\n", "b.txt": "b\n"})
    data = index_bytes(repo)
    at = data.index(b"b.txt\0")
    data[at] = ord("0")  # "0.txt" after "a.txt"
    assert read_index(rewrite(repo, data)) is None


def test_a_truncated_index_is_left_to_libgit2(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    data = index_bytes(repo)[:50]
    assert read_index(rewrite(repo, data + bytearray(20))) is None


def test_a_conflicted_path_is_listed_apart(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    index = repo.repo.index
    blob = repo.repo.create_blob(b"theirs\n")
    index.add(pygit2.IndexEntry("libs/core/b.py", blob, pygit2.enums.FileMode.BLOB))
    index.write()
    data = index_bytes(repo)
    at = data.index(b"libs/core/b.py\0") - 2  # the flags: stage 2 ("ours")
    flags = struct.unpack_from(">H", data, at)[0]
    struct.pack_into(">H", data, at, flags | 0x2000)
    found = read_index(rewrite(repo, data))
    assert found is not None
    assert found.conflicted == {"libs/core/b.py"} and "libs/core/b.py" not in found.files
