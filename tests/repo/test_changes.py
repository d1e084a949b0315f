"""Two snapshots -> the sorted changes between them."""

from __future__ import annotations

import pygit2
from hypothesis import given
from hypothesis import strategies as st

from graphkit.model import Change, FileEntry, Status
from graphkit.repo.changes import diff_snapshots

FILE, EXEC, LINK, SUBMODULE = 0o100644, 0o100755, 0o120000, 0o160000


def blob(text: str) -> str:
    return str(pygit2.hash(text.encode()))


def entry(text: str, mode: int = FILE) -> FileEntry:
    return FileEntry(mode, blob(text))


BASE = {
    "README.md": entry("# repo\n"),
    "libs/core/a.py": entry("A = 1\n"),
    "libs/core/b.py": entry("B = 1\n"),
    "tools/run.sh": entry("echo run\n"),
}


def test_identical_snapshots_have_no_changes() -> None:
    assert diff_snapshots(BASE, dict(BASE)) == ()


def test_added_file() -> None:
    head = {**BASE, "libs/core/c.py": entry("C = 1\n")}
    assert diff_snapshots(BASE, head) == (Change("libs/core/c.py", Status.ADDED),)


def test_deleted_file() -> None:
    head = {p: e for p, e in BASE.items() if p != "README.md"}
    assert diff_snapshots(BASE, head) == (Change("README.md", Status.DELETED),)


def test_modified_content() -> None:
    head = {**BASE, "libs/core/a.py": entry("A = 2\n")}
    assert diff_snapshots(BASE, head) == (Change("libs/core/a.py", Status.MODIFIED),)


def test_chmod_x_is_modified() -> None:
    head = {**BASE, "tools/run.sh": entry("echo run\n", EXEC)}
    assert diff_snapshots(BASE, head) == (Change("tools/run.sh", Status.MODIFIED),)


def test_file_becoming_a_symlink_is_type_changed() -> None:
    head = {**BASE, "README.md": entry("docs/README.md", LINK)}
    assert diff_snapshots(BASE, head) == (Change("README.md", Status.TYPE_CHANGED),)


def test_symlink_becoming_a_submodule_is_type_changed() -> None:
    base = {"vendor/lib": entry("elsewhere", LINK)}
    head = {"vendor/lib": FileEntry(SUBMODULE, "a" * 40)}
    assert diff_snapshots(base, head) == (Change("vendor/lib", Status.TYPE_CHANGED),)


def test_same_blob_moved_is_an_exact_rename() -> None:
    head = {p: e for p, e in BASE.items() if p != "libs/core/b.py"}
    head["libs/util/b.py"] = BASE["libs/core/b.py"]
    assert diff_snapshots(BASE, head) == (
        Change("libs/util/b.py", Status.RENAMED, "libs/core/b.py"),
    )
    assert diff_snapshots(BASE, head)[0].paths == ("libs/core/b.py", "libs/util/b.py")


def test_exact_renames_pair_identical_blobs_one_to_one_in_path_order() -> None:
    base = {"old/a": entry("same"), "old/b": entry("same")}
    head = {"new/a": entry("same"), "new/b": entry("same"), "new/c": entry("same")}
    assert diff_snapshots(base, head) == (
        Change("new/a", Status.RENAMED, "old/a"),
        Change("new/b", Status.RENAMED, "old/b"),
        Change("new/c", Status.ADDED),
    )


def test_rename_pairs_given_explicitly_pair_different_content() -> None:
    head = {p: e for p, e in BASE.items() if p != "libs/core/a.py"}
    head["libs/core/alpha.py"] = entry("A = 1  # renamed and edited\n")
    assert diff_snapshots(BASE, head) == (
        Change("libs/core/a.py", Status.DELETED),
        Change("libs/core/alpha.py", Status.ADDED),
    )
    assert diff_snapshots(BASE, head, {"libs/core/alpha.py": "libs/core/a.py"}) == (
        Change("libs/core/alpha.py", Status.RENAMED, "libs/core/a.py"),
    )


def test_rename_pairs_that_do_not_fit_the_snapshots_are_ignored() -> None:
    head = {**BASE, "libs/core/a.py": entry("A = 2\n"), "new.py": entry("N\n")}
    # a.py still exists at head, so it cannot be the old side of a rename.
    changes = diff_snapshots(BASE, head, {"new.py": "libs/core/a.py", "gone.py": "README.md"})
    assert changes == (
        Change("libs/core/a.py", Status.MODIFIED),
        Change("new.py", Status.ADDED),
    )


def test_changes_are_sorted_by_path() -> None:
    head = {
        "0-first.txt": entry("new"),
        "libs/core/a.py": entry("A = 2\n"),
        "libs/core/b.py": BASE["libs/core/b.py"],
        "zz/run.sh": BASE["tools/run.sh"],
    }
    assert diff_snapshots(BASE, head) == (
        Change("0-first.txt", Status.ADDED),
        Change("README.md", Status.DELETED),
        Change("libs/core/a.py", Status.MODIFIED),
        Change("zz/run.sh", Status.RENAMED, "tools/run.sh"),
    )


def test_one_old_path_is_renamed_at_most_once() -> None:
    base = {"old.py": entry("old")}
    head = {"new1.py": entry("one"), "new2.py": entry("two")}
    changes = diff_snapshots(base, head, {"new1.py": "old.py", "new2.py": "old.py"})
    assert changes == (
        Change("new1.py", Status.RENAMED, "old.py"),
        Change("new2.py", Status.ADDED),
    )


_PATHS = st.sampled_from(["a", "b", "c/d", "c/e", "f/g/h", "i"])
_ENTRIES = st.builds(
    FileEntry,
    st.sampled_from([FILE, EXEC, LINK, SUBMODULE]),
    st.sampled_from([blob("1"), blob("2"), blob("3")]),
)
_SNAPSHOTS = st.dictionaries(_PATHS, _ENTRIES, max_size=6)


# git pairs each deleted path with at most one added path, so rename maps are one-to-one.
_RENAMES = st.dictionaries(_PATHS, _PATHS, max_size=3).filter(
    lambda m: len(set(m.values())) == len(m)
)


@given(base=_SNAPSHOTS, head=_SNAPSHOTS, renames=_RENAMES)
def test_every_differing_path_and_only_those_appear_in_changes(
    base: dict[str, FileEntry], head: dict[str, FileEntry], renames: dict[str, str]
) -> None:
    changes = diff_snapshots(base, head, renames)
    differing = {p for p in base.keys() | head.keys() if base.get(p) != head.get(p)}
    mentioned = [p for change in changes for p in change.paths]
    assert set(mentioned) == differing
    assert len(mentioned) == len(differing)  # no path is reported twice
    assert list(changes) == sorted(changes)
    for change in changes:
        if change.status is Status.RENAMED:
            assert change.old_path in base and change.old_path not in head
            assert change.path in head and change.path not in base
