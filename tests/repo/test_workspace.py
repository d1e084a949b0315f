"""The git side: revisions, merge-bases, shallow clones, snapshots and blob bytes, on real repos."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest
from gitrepo import GitRepo

from graphkit.errors import InputError, UnknownStateError
from graphkit.model import Change, FileEntry, Status
from graphkit.repo.changes import diff_snapshots
from graphkit.repo.workspace import (
    _POINT_LOOKUPS,
    WORKTREE,
    Revision,
    TreeSnapshot,
    Workspace,
    list_tree,
)

MakeRepo = Callable[[dict[str, str]], GitRepo]
FILE, EXEC, LINK, SUBMODULE = 0o100644, 0o100755, 0o120000, 0o160000

FILES = {
    "graphkit.toml": '[workspace]\ndefault_branch = "main"\n',
    "libs/core/BUILD.toml": '[[target]]\nname = "core"\nrule = "python_library"\n',
    "libs/core/a.py": "A = 1\n",
    "README.md": "# repo\n",
}


def blob(text: str) -> str:
    return str(pygit2.hash(text.encode()))


def expected(files: dict[str, str], mode: int = FILE) -> dict[str, FileEntry]:
    return {path: FileEntry(mode, blob(text)) for path, text in files.items()}


def worktree(repo: GitRepo) -> dict[str, FileEntry]:
    return Workspace.open(repo.root).snapshot(Revision(WORKTREE, WORKTREE))


def create_branch(repo: GitRepo, name: str, at: str) -> None:
    repo.repo.branches.local.create(name, repo.repo[at].peel(pygit2.Commit))


def switch_to(repo: GitRepo, branch: str) -> None:
    repo.repo.checkout(f"refs/heads/{branch}")


# Opening and resolving revisions.


def test_open_outside_a_repository_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        Workspace.open(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: not inside a git repository (run graphkit inside a git checkout)"
    )


def test_open_from_a_subfolder_finds_the_root(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    workspace = Workspace.open(repo.root / "libs" / "core")
    assert workspace.root == repo.root.resolve()
    assert workspace.git_dir == (repo.root / ".git").resolve()
    assert not workspace.is_shallow


def test_resolve_head_parent_and_branch(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    first = str(repo.repo.head.target)
    repo.append("README.md", "more\n")
    second = repo.commit("second")
    workspace = Workspace.open(repo.root)
    assert workspace.resolve("HEAD") == Revision("HEAD", second)
    assert workspace.resolve("HEAD~1") == Revision("HEAD~1", first)
    assert workspace.resolve("main") == Revision("main", second)
    assert workspace.resolve(first[:10]) == Revision(first[:10], first)
    assert workspace.resolve(WORKTREE) == Revision(WORKTREE, WORKTREE)


def test_resolve_an_annotated_tag_gives_its_commit(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    head = repo.repo.head.target
    signature = pygit2.Signature("t", "t@example.invalid", 1_700_000_000, 0)
    repo.repo.create_tag("v1", head, pygit2.enums.ObjectType.COMMIT, signature, "release")
    assert Workspace.open(repo.root).resolve("v1").sha == str(head)


@pytest.mark.parametrize("spec", ["nope", "HEAD~5", "main:README.md", "0" * 40])
def test_resolve_unknown_revision_is_an_input_error_with_hint(
    make_repo: MakeRepo, spec: str
) -> None:
    workspace = Workspace.open(make_repo(FILES).root)
    with pytest.raises(InputError) as caught:
        workspace.resolve(spec)
    assert not isinstance(caught.value, UnknownStateError)
    assert str(caught.value) == f"unknown revision {spec!r} (check the name with `git log`)"


# Snapshots of commits.


def test_snapshot_of_a_commit_lists_mode_and_blob_id(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    workspace = Workspace.open(repo.root)
    assert workspace.snapshot(workspace.resolve("HEAD")) == expected(FILES)


def test_snapshot_of_an_older_commit_ignores_later_edits(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    repo.write("libs/core/b.py", "B = 1\n")
    repo.append("README.md", "more\n")
    repo.commit("second")
    repo.write("untracked.txt", "x")
    workspace = Workspace.open(repo.root)
    assert workspace.snapshot(workspace.resolve("HEAD~1")) == expected(FILES)


def test_commit_snapshot_records_executables_and_symlinks(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    repo.write("tools/run.sh", "echo run\n", executable=True)
    os.symlink("../README.md", repo.root / "tools" / "README.md")
    repo.commit("tools")
    snapshot = Workspace.open(repo.root).snapshot(Workspace.open(repo.root).resolve("HEAD"))
    assert snapshot["tools/run.sh"] == FileEntry(EXEC, blob("echo run\n"))
    assert snapshot["tools/README.md"] == FileEntry(LINK, blob("../README.md"))


# Snapshots of the worktree.


def test_clean_worktree_snapshot_equals_head(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    workspace = Workspace.open(repo.root)
    assert worktree(repo) == workspace.snapshot(workspace.resolve("HEAD"))


def test_worktree_snapshot_includes_staged_unstaged_and_untracked_files(
    make_repo: MakeRepo,
) -> None:
    repo = make_repo(FILES)
    repo.write("libs/core/a.py", "A = 2  # staged\n")
    repo.stage("libs/core/a.py")
    repo.write("README.md", "# unstaged edit\n")
    repo.write("libs/core/new.py", "NEW = 1\n")
    repo.write("libs/core/staged_new.py", "S = 1\n")
    repo.stage("libs/core/staged_new.py")
    assert worktree(repo) == expected(
        {
            **FILES,
            "libs/core/a.py": "A = 2  # staged\n",
            "README.md": "# unstaged edit\n",
            "libs/core/new.py": "NEW = 1\n",
            "libs/core/staged_new.py": "S = 1\n",
        }
    )


def test_worktree_snapshot_sees_the_disk_over_a_staged_version(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    repo.write("libs/core/a.py", "A = 2\n")
    repo.stage("libs/core/a.py")
    repo.write("libs/core/a.py", "A = 3\n")
    assert worktree(repo)["libs/core/a.py"] == FileEntry(FILE, blob("A = 3\n"))


def test_worktree_snapshot_excludes_gitignored_files(make_repo: MakeRepo) -> None:
    repo = make_repo({**FILES, ".gitignore": "*.pyc\nbuild/\n"})
    repo.write("libs/core/a.pyc", "bytecode")
    repo.write("build/out/lib.so", "binary")
    repo.write("libs/core/kept.py", "K = 1\n")
    snapshot = worktree(repo)
    assert sorted(snapshot) == sorted([*FILES, ".gitignore", "libs/core/kept.py"])


def test_worktree_snapshot_excludes_deleted_files(make_repo: MakeRepo) -> None:
    repo = make_repo({**FILES, "old.txt": "old\n", "staged_gone.txt": "gone\n"})
    repo.delete("old.txt")  # deleted on disk only
    repo.delete("staged_gone.txt")
    repo.stage("staged_gone.txt")  # `git rm`
    repo.write("added_then_deleted.txt", "tmp\n")
    repo.stage("added_then_deleted.txt")
    repo.delete("added_then_deleted.txt")
    assert worktree(repo) == expected(FILES)


def test_worktree_keeps_a_file_removed_from_the_index_but_still_on_disk(
    make_repo: MakeRepo,
) -> None:
    repo = make_repo(FILES)
    index = repo.repo.index
    index.remove("README.md")  # `git rm --cached README.md`
    index.write()
    assert worktree(repo) == expected(FILES)


def test_identical_content_has_the_same_blob_id_committed_or_untracked(
    make_repo: MakeRepo,
) -> None:
    repo = make_repo(FILES)
    repo.write("libs/copy/a.py", FILES["libs/core/a.py"])
    snapshot = worktree(repo)
    assert snapshot["libs/copy/a.py"] == snapshot["libs/core/a.py"]
    assert snapshot["libs/copy/a.py"].oid == blob("A = 1\n")


def test_worktree_chmod_x_gives_the_executable_mode(make_repo: MakeRepo) -> None:
    repo = make_repo({**FILES, "run.sh": "echo\n"})
    repo.chmod_x("run.sh")
    repo.write("new.sh", "echo new\n", executable=True)
    snapshot = worktree(repo)
    assert snapshot["run.sh"] == FileEntry(EXEC, blob("echo\n"))
    assert snapshot["new.sh"] == FileEntry(EXEC, blob("echo new\n"))


def test_worktree_symlink_gives_the_link_mode_and_target_blob(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    os.symlink("libs/core/a.py", repo.root / "alias.py")
    assert worktree(repo)["alias.py"] == FileEntry(LINK, blob("libs/core/a.py"))


def test_worktree_file_replaced_by_a_symlink_changes_type(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    repo.delete("README.md")
    os.symlink("libs/core/a.py", repo.root / "README.md")
    assert worktree(repo)["README.md"] == FileEntry(LINK, blob("libs/core/a.py"))


# Reading blobs.


def test_read_returns_committed_bytes_from_the_object_store(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    workspace = Workspace.open(repo.root)
    entry = workspace.snapshot(workspace.resolve("HEAD"))["libs/core/a.py"]
    repo.write("libs/core/a.py", "edited on disk\n")
    assert workspace.read("libs/core/a.py", entry) == b"A = 1\n"


def test_read_returns_untracked_bytes_from_disk(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    repo.write("notes/new.txt", b"\x00binary\xff")
    os.symlink("new.txt", repo.root / "notes" / "link")
    workspace = Workspace.open(repo.root)
    snapshot = worktree(repo)
    assert workspace.read("notes/new.txt", snapshot["notes/new.txt"]) == b"\x00binary\xff"
    assert workspace.read("notes/link", snapshot["notes/link"]) == b"new.txt"


def test_read_refuses_a_file_that_changed_since_the_snapshot(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    repo.write("new.txt", "first\n")
    entry = worktree(repo)["new.txt"]
    repo.write("new.txt", "second\n")
    with pytest.raises(InputError, match=r"new\.txt changed while graphkit was reading it"):
        Workspace.open(repo.root).read("new.txt", entry)


# The default base.


def test_default_base_is_the_merge_base_with_main(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    fork = str(repo.repo.head.target)
    repo.append("README.md", "main moves on\n")
    repo.commit("on main")
    create_branch(repo, "feature", fork)
    switch_to(repo, "feature")
    repo.write("libs/core/feature.py", "F = 1\n")
    repo.commit("on feature")
    base = Workspace.open(repo.root).default_base("main")
    assert base == Revision("merge-base(HEAD, main)", fork)


def test_default_base_on_main_itself_is_head(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    assert Workspace.open(repo.root).default_base("main").sha == str(repo.repo.head.target)


def test_default_base_falls_back_to_origin(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    fork = repo.repo.head.target
    repo.repo.references.create("refs/remotes/origin/trunk", fork)
    repo.write("x.txt", "x\n")
    repo.commit("on main")
    base = Workspace.open(repo.root).default_base("trunk")
    assert base == Revision("merge-base(HEAD, origin/trunk)", str(fork))


def test_missing_default_branch_names_graphkit_toml(make_repo: MakeRepo) -> None:
    workspace = Workspace.open(make_repo(FILES).root)
    with pytest.raises(InputError) as caught:
        workspace.default_base("trunk")
    assert caught.value.path == "graphkit.toml"
    assert str(caught.value) == (
        "graphkit.toml: default branch 'trunk' not found (tried trunk, origin/trunk) "
        "(fix [workspace] default_branch, or pass --base REV)"
    )


def test_unrelated_default_branch_has_no_merge_base(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    signature = pygit2.Signature("t", "t@example.invalid", 1_700_000_000, 0)
    tree = repo.repo.TreeBuilder().write()
    repo.repo.create_commit("refs/heads/orphan", signature, signature, "orphan", tree, [])
    with pytest.raises(InputError, match="HEAD and 'orphan' share no history"):
        Workspace.open(repo.root).default_base("orphan")


# Shallow clones.


def test_shallow_clone_reports_missing_history_as_unknown(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(FILES)
    repo.append("README.md", "second\n")
    repo.commit("second")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", f"file://{repo.root}", str(clone)],
        check=True,
        capture_output=True,
    )
    workspace = Workspace.open(clone)
    assert workspace.is_shallow
    assert workspace.resolve("HEAD").sha == str(repo.repo.head.target)
    with pytest.raises(UnknownStateError) as caught:
        workspace.resolve("HEAD~1")
    assert caught.value.exit_code == 2
    assert caught.value.message == "revision 'HEAD~1' is not in this shallow clone"
    assert "fetch-depth: 0" in (caught.value.hint or "")
    assert "--on-unknown=all" in (caught.value.hint or "")


# Commit snapshots are read lazily; tree_diff reads only what differs.


def test_commit_snapshot_looks_up_files_not_folders(make_repo: MakeRepo) -> None:
    workspace = Workspace.open(make_repo(FILES).root)
    snapshot = workspace.snapshot(workspace.resolve("HEAD"))
    assert snapshot["libs/core/a.py"] == FileEntry(FILE, blob("A = 1\n"))
    assert "libs/core/a.py" in snapshot
    for missing in ["libs/core", "libs/core/", "", "/README.md", "libs/core/nope.py"]:
        assert missing not in snapshot
        assert snapshot.get(missing) is None
    assert len(snapshot) == len(FILES)


def test_tree_diff_gives_the_same_changes_as_full_snapshots(make_repo: MakeRepo) -> None:
    repo = make_repo({**FILES, "tools/run.sh": "echo\n", "docs/guide.md": "guide\n"})
    repo.append("libs/core/a.py", "B = 2\n")  # modified
    repo.delete("README.md")  # deleted
    repo.write("libs/util/u.py", "U = 1\n")  # added in a new folder
    repo.move("docs/guide.md", "handbook/guide.md")  # exact rename across folders
    repo.chmod_x("tools/run.sh")  # mode change
    os.symlink("../libs", repo.root / "tools" / "libs")  # added symlink
    repo.commit("many edits")
    workspace = Workspace.open(repo.root)
    base, head = workspace.resolve("HEAD~1"), workspace.resolve("HEAD")
    partial = workspace.tree_diff(base, head)
    assert partial is not None
    old, new = partial
    assert sorted(old) == ["README.md", "docs/guide.md", "libs/core/a.py", "tools/run.sh"]
    assert sorted(new) == [
        "handbook/guide.md",
        "libs/core/a.py",
        "libs/util/u.py",
        "tools/libs",
        "tools/run.sh",
    ]
    full = diff_snapshots(workspace.snapshot(base), workspace.snapshot(head))
    assert diff_snapshots(old, new) == full
    assert full == (
        Change("README.md", Status.DELETED),
        Change("handbook/guide.md", Status.RENAMED, "docs/guide.md"),
        Change("libs/core/a.py", Status.MODIFIED),
        Change("libs/util/u.py", Status.ADDED),
        Change("tools/libs", Status.ADDED),
        Change("tools/run.sh", Status.MODIFIED),
    )


def test_tree_diff_of_a_file_replaced_by_a_folder(make_repo: MakeRepo) -> None:
    repo = make_repo({**FILES, "libs/data": "was a file\n"})
    repo.delete("libs/data")
    repo.write("libs/data/x.json", "{}\n")
    repo.commit("file to folder")
    workspace = Workspace.open(repo.root)
    base, head = workspace.resolve("HEAD~1"), workspace.resolve("HEAD")
    assert workspace.tree_diff(base, head) == (
        {"libs/data": FileEntry(FILE, blob("was a file\n"))},
        {"libs/data/x.json": FileEntry(FILE, blob("{}\n"))},
    )


def test_tree_diff_of_identical_commits_is_empty(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    workspace = Workspace.open(repo.root)
    head = workspace.resolve("HEAD")
    assert workspace.tree_diff(head, head) == ({}, {})
    assert workspace.tree_id(head) == str(repo.repo.head.peel(pygit2.Tree).id)


def test_tree_diff_and_tree_id_are_none_for_the_worktree(make_repo: MakeRepo) -> None:
    workspace = Workspace.open(make_repo(FILES).root)
    head, disk = workspace.resolve("HEAD"), Revision(WORKTREE, WORKTREE)
    assert workspace.tree_diff(head, disk) is None
    assert workspace.tree_diff(disk, head) is None
    assert workspace.tree_id(disk) is None


# Submodules.


def test_submodule_pointer_is_recorded_as_a_gitlink(make_repo: MakeRepo, tmp_path: Path) -> None:
    other = GitRepo(tmp_path / "other")
    other.write("lib.c", "int x;\n")
    pinned = other.commit("vendored")
    repo = make_repo(FILES)
    index = repo.repo.index
    index.add(pygit2.IndexEntry("vendor/lib", pygit2.Oid(hex=pinned), pygit2.enums.FileMode.COMMIT))
    index.write()
    tree = index.write_tree()
    signature = pygit2.Signature("t", "t@example.invalid", 1_700_000_000, 0)
    repo.repo.create_commit(
        "HEAD", signature, signature, "add submodule", tree, [repo.repo.head.target]
    )
    (repo.root / "vendor" / "lib").mkdir(parents=True)  # an uninitialized submodule's folder
    workspace = Workspace.open(repo.root)
    committed = workspace.snapshot(workspace.resolve("HEAD"))
    assert committed["vendor/lib"] == FileEntry(SUBMODULE, pinned)
    assert committed == {**expected(FILES), "vendor/lib": FileEntry(SUBMODULE, pinned)}
    assert worktree(repo) == committed


def test_checked_out_submodule_at_a_new_commit_shows_in_the_worktree(
    make_repo: MakeRepo,
) -> None:
    repo = make_repo(FILES)
    sub = GitRepo(repo.root / "vendor" / "lib")
    sub.write("lib.c", "int x;\n")
    pinned = sub.commit("vendored")
    index = repo.repo.index
    index.add(pygit2.IndexEntry("vendor/lib", pygit2.Oid(hex=pinned), pygit2.enums.FileMode.COMMIT))
    index.write()
    signature = pygit2.Signature("t", "t@example.invalid", 1_700_000_000, 0)
    repo.repo.create_commit(
        "HEAD", signature, signature, "pin", index.write_tree(), [repo.repo.head.target]
    )
    assert worktree(repo)["vendor/lib"] == FileEntry(SUBMODULE, pinned)
    sub.append("lib.c", "int y;\n")
    moved = sub.commit("upstream change")
    assert worktree(repo)["vendor/lib"] == FileEntry(SUBMODULE, moved)
    workspace = Workspace.open(repo.root)
    assert workspace.snapshot(workspace.resolve("HEAD"))["vendor/lib"] == FileEntry(
        SUBMODULE, pinned
    )


LATIN1 = os.fsdecode(b"libs/core/caf\xe9.py")  # a Latin-1 name: not UTF-8


def test_untracked_file_name_that_is_not_utf8_is_an_input_error(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    (repo.root / LATIN1).write_bytes(b"X = 1\n")
    with pytest.raises(InputError) as err:
        worktree(repo)
    assert str(err.value).startswith("libs/core/caf\\xe9.py: file name is not UTF-8")


def test_committed_file_name_that_is_not_utf8_is_an_input_error(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    (repo.root / LATIN1).write_bytes(b"X = 1\n")
    base = repo.repo.head.target
    repo.commit("latin-1")
    workspace = Workspace.open(repo.root)
    head = workspace.resolve("HEAD")
    with pytest.raises(InputError, match="not UTF-8"):
        dict(workspace.snapshot(head))
    with pytest.raises(InputError, match="not UTF-8"):
        workspace.tree_diff(workspace.resolve(str(base)), head)


def test_symlink_target_that_is_not_utf8_is_hashed_as_git_stores_it(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    os.symlink(b"caf\xe9.py", repo.root / "libs/core/link.py")
    untracked = worktree(repo)["libs/core/link.py"]
    assert untracked == FileEntry(LINK, str(pygit2.hash(b"caf\xe9.py")))
    workspace = Workspace.open(repo.root)
    assert workspace.read("libs/core/link.py", untracked) == b"caf\xe9.py"
    repo.commit("link")
    assert workspace.snapshot(workspace.resolve("HEAD"))["libs/core/link.py"] == untracked


def test_untracked_folder_nested_150_deep_is_an_input_error_naming_it(
    make_repo: MakeRepo,
) -> None:
    repo = make_repo(FILES)
    deep = repo.root / "libs" / "core" / "/".join(["d"] * 150)
    deep.mkdir(parents=True)
    (deep / "f.py").write_text("X = 1\n")
    with pytest.raises(InputError) as err:
        worktree(repo)
    message = str(err.value)
    assert message.startswith("libs/core/" + "d/" * 98 + "d: folder nested deeper than 100")
    assert "add it to .gitignore" in message


def test_deep_folder_that_is_ignored_is_left_out(make_repo: MakeRepo) -> None:
    repo = make_repo({**FILES, ".gitignore": "build/\n"})
    deep = repo.root / "build" / "/".join(["d"] * 150)
    deep.mkdir(parents=True)
    (deep / "f.py").write_text("X = 1\n")
    assert "build" not in "".join(worktree(repo))


def test_many_lookups_in_a_commit_snapshot_list_its_tree_once(make_repo: MakeRepo) -> None:
    # Comparing a commit with the worktree looks up every path: one walk from the
    # root per path would cost 160,000 walks at 80,000 files.
    files = {f"pkg{n % 7}/f{n}.txt": f"{n}\n" for n in range(_POINT_LOOKUPS + 50)}
    repo = make_repo(files)
    ws = Workspace.open(repo.root)
    snapshot = ws.snapshot(ws.resolve("HEAD"))
    expected = dict(ws.snapshot(ws.resolve("HEAD")).items())
    for path in sorted(files):
        assert snapshot[path] == expected[path]
    assert snapshot._all is not None  # listed once, past the point lookups
    for missing in ("pkg1", "nope.txt", "pkg1/nope.txt"):
        assert missing not in snapshot  # a folder is no file, listed or looked up


def test_a_tree_listed_through_an_index_file_is_libgit2s_listing(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    other = GitRepo(tmp_path / "other")
    other.write("lib.c", "int x;\n")
    pinned = other.commit("vendored")
    repo = make_repo({**FILES, "docs/café.md": "accents\n", "a b/c d.txt": "spaces\n"})
    repo.chmod_x("docs/café.md")
    os.symlink("../libs", repo.root / "docs" / "libs")
    repo.commit("kinds")
    index = repo.repo.index
    index.add(pygit2.IndexEntry("vendor/lib", pygit2.Oid(hex=pinned), pygit2.enums.FileMode.COMMIT))
    index.write()
    tree = repo.repo[index.write_tree()]
    assert isinstance(tree, pygit2.Tree)
    slow = pygit2.Index()
    slow.read_tree(tree)
    listed = list_tree(tree)
    assert listed == {e.path: FileEntry(e.mode, str(e.id)) for e in slow}
    assert {"vendor/lib", "docs/libs", "docs/café.md", "a b/c d.txt"} <= listed.keys()


def test_files_below_a_folder_leave_out_the_stopped_subfolders(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    # A dirty package's own files, read without listing the whole tree: its
    # subfolders that are packages of their own are not walked.
    other = GitRepo(tmp_path / "other")
    other.write("lib.c", "int x;\n")
    pinned = other.commit("vendored")
    repo = make_repo(
        {
            **FILES,
            "libs/core/src/deep/b.py": "B = 1\n",
            "libs/core/nested/BUILD.toml": "",
            "libs/core/nested/n.py": "N = 1\n",
            "libs/core/nested/more/m.py": "M = 1\n",
            "libs/core/café.md": "accents\n",
            "libs/other/o.py": "O = 1\n",
        }
    )
    repo.chmod_x("libs/core/a.py")
    os.symlink("../other", repo.root / "libs" / "core" / "ln")
    repo.commit("kinds")
    index = repo.repo.index
    entry = pygit2.IndexEntry(
        "libs/core/vendor", pygit2.Oid(hex=pinned), pygit2.enums.FileMode.COMMIT
    )
    index.add(entry)
    index.write()
    signature = pygit2.Signature("t", "t@example.invalid", 1_700_000_000, 0)
    repo.repo.create_commit(
        "HEAD", signature, signature, "submodule", index.write_tree(), [repo.repo.head.target]
    )
    ws = Workspace.open(repo.root)
    snapshot = ws.snapshot(ws.resolve("HEAD"))
    assert isinstance(snapshot, TreeSnapshot)
    stop = {"libs/core/nested", "libs/other", "libs/core"}
    below = snapshot.below("libs/core", stop)
    assert snapshot._all is None  # nothing listed the whole tree
    listed = dict(snapshot.items())
    assert below == {
        path: entry
        for path, entry in listed.items()
        if path.startswith("libs/core/") and not path.startswith("libs/core/nested/")
    }
    assert {"libs/core/vendor", "libs/core/ln", "libs/core/café.md"} <= below.keys()
    assert snapshot.below("", {"libs"}) == {
        path: entry for path, entry in listed.items() if not path.startswith("libs/")
    }
    assert snapshot.below("", set()) == listed
    for missing in ("nope", "README.md", "libs/core/a.py"):
        assert snapshot.below(missing, set()) == {}


@pytest.mark.parametrize("ca_file", [None, "/etc/ssl/certs/ca-certificates.crt", ""])
def test_pygit2_loads_without_the_ca_bundle_and_the_environment_stays(ca_file: str | None) -> None:
    # graphkit hides the CA file from pygit2's import (OpenSSL would parse it there);
    # whatever SSL_CERT_FILE held before, it holds after.
    env = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
    if ca_file is not None:
        env["SSL_CERT_FILE"] = ca_file
    code = (
        "import os\n"
        "before = os.environ.get('SSL_CERT_FILE')\n"
        "from graphkit.repo.workspace import Workspace\n"
        "import pygit2\n"
        "assert os.environ.get('SSL_CERT_FILE') == before, os.environ.get('SSL_CERT_FILE')\n"
        "assert pygit2.settings is not None\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
