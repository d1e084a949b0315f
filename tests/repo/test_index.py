"""git's index file read directly: the same entries libgit2 reads, and None (so the
caller asks libgit2 or git) for anything it does not read exactly."""

from __future__ import annotations

import hashlib
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest
from gitrepo import GitRepo

from graphkit.repo.index import STAT, IndexFile, read_index

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
    assert {p: (e.mode, e.oid) for p, e in found.files.as_dict().items()} == libgit2
    assert {p: (e.mode, e.oid) for p, e in found.files.items()} == libgit2
    assert len(found.stats) == len(found.files) * STAT.size
    for at, path in enumerate(found.files):
        assert found.stat(at)[3] == (repo.root / path).stat().st_size
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


# The parsed index kept in .git/graphkit/index: read back while git's index is the
# same file, a miss (the index parsed again, the cache written afresh) otherwise.


def cache_of(repo: GitRepo) -> Path:
    return repo.root / ".git" / "graphkit" / "index"


def shown(index: IndexFile | None) -> object:
    """Everything ``index`` holds, comparable."""
    assert index is not None
    return (
        index.files.as_dict(),
        [index.stat(at) for at in range(len(index.files))],
        index.unchanged, index.conflicted, index.intent_to_add, index.cache_tree,
        index.mtime_ns, index.utf8,
    )  # fmt: skip


def test_the_parsed_index_is_kept_and_read_back(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    path = repo.root / ".git" / "index"
    first = read_index(path, cache_of(repo))
    assert cache_of(repo).is_file()
    kept = cache_of(repo).stat()
    again = read_index(path, cache_of(repo))
    assert shown(again) == shown(first) == shown(read_index(path))
    assert again is not None and again.files["libs/core/b.py"] == first.files["libs/core/b.py"]
    assert "libs/core/nope.py" not in again.files
    # A hit leaves the cache as it was (a miss writes a new file in its place).
    assert cache_of(repo).stat().st_ino == kept.st_ino


def test_an_index_rewritten_by_git_is_read_afresh(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    path = repo.root / ".git" / "index"
    read_index(path, cache_of(repo))
    repo.write("libs/core/b.py", "B = 2\n")
    subprocess.run(["git", "add", "libs/core/b.py"], cwd=repo.root, check=True)
    found = read_index(path, cache_of(repo))
    assert found is not None
    assert found.files["libs/core/b.py"].oid == str(pygit2.hash(b"B = 2\n"))
    assert shown(found) == shown(read_index(path))
    assert shown(read_index(path, cache_of(repo))) == shown(found)


def test_an_index_edited_in_place_with_its_trailer_kept_is_read_afresh(
    make_repo: MakeRepo,
) -> None:
    # Not what git does, but the cache must not trust the trailer alone.
    repo = make_repo(FILES)
    path = repo.root / ".git" / "index"
    read_index(path, cache_of(repo))
    data = index_bytes(repo)
    at = data.index(b"libs/core/b.py\0") - 22  # the entry's blob id
    data[at : at + 20] = bytes.fromhex(str(pygit2.hash(b"other\n")))
    found = read_index(rewrite(repo, data, checksum=False), cache_of(repo))
    assert found is None  # the checksum no longer matches: left to libgit2


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-1],
        lambda data: data[:40],
        lambda data: b"",
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),
        lambda data: data[:100] + bytes([data[100] ^ 1]) + data[101:],
        lambda data: b"garbage" * 100,
    ],
    ids=["truncated by one", "header only", "empty", "last byte", "a sizes byte", "garbage"],
)
def test_a_damaged_cache_is_a_miss(make_repo: MakeRepo, damage: Callable[[bytes], bytes]) -> None:
    repo = make_repo(FILES)
    path = repo.root / ".git" / "index"
    expected = shown(read_index(path, cache_of(repo)))
    cache_of(repo).write_bytes(damage(cache_of(repo).read_bytes()))
    assert shown(read_index(path, cache_of(repo))) == expected
    assert shown(read_index(path, cache_of(repo))) == expected  # written afresh


def test_a_cache_that_is_a_folder_is_a_miss(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    cache_of(repo).mkdir(parents=True)
    path = repo.root / ".git" / "index"
    assert shown(read_index(path, cache_of(repo))) == shown(read_index(path))


def test_conflicts_and_flags_are_kept_too(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    subprocess.run(["git", "update-index", "--skip-worktree", "a.txt"], cwd=repo.root, check=True)
    repo.write("new.py", "N = 1\n")
    subprocess.run(["git", "add", "-N", "new.py"], cwd=repo.root, check=True)
    path = repo.root / ".git" / "index"
    first = read_index(path, cache_of(repo))
    assert first is not None and first.unchanged == {"a.txt"} and first.intent_to_add == {"new.py"}
    assert shown(read_index(path, cache_of(repo))) == shown(first)


def test_an_index_without_checksum_is_not_kept(make_repo: MakeRepo) -> None:
    # index.skipHash: zeros name no content.
    repo = make_repo(FILES)
    data = index_bytes(repo)
    data[-20:] = bytes(20)
    path = rewrite(repo, data, checksum=False)
    assert read_index(path, cache_of(repo)) is not None
    assert not cache_of(repo).exists()
