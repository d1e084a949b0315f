"""The worktree read through the index's stat data: every edit git status sees, found
without hashing clean files, and the same snapshot and changes libgit2's status gives."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest
from gitrepo import GitRepo

from graphkit.model import FileEntry
from graphkit.repo import dirty
from graphkit.repo.changes import diff_snapshots
from graphkit.repo.index import read_index, root_tree, valid_trees
from graphkit.repo.workspace import WORKTREE, Revision, Workspace

MakeRepo = Callable[[dict[str, str]], GitRepo]
FILE, EXEC, LINK = 0o100644, 0o100755, 0o120000
DISK = Revision(WORKTREE, WORKTREE)

FILES = {
    "graphkit.toml": '[workspace]\ndefault_branch = "main"\n',
    "libs/core/BUILD.toml": '[[target]]\nname = "core"\nrule = "python_library"\n',
    "libs/core/a.py": "A = 1\n",
    "libs/core/sub/b.py": "B = 1\n",
    "libs/util/u.py": "U = 1\n",
    "README.md": "# repo\n",
}


@pytest.fixture(autouse=True)
def parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sweep here runs in forked processes, as it does from a few thousand paths
    on: the small repositories of these tests would otherwise only take the one-process
    path."""
    monkeypatch.setattr(dirty, "_PARALLEL_FROM", 1)


IDENTITY = ("-c", "user.name=t", "-c", "user.email=t@t.invalid")


def git(cwd: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(
        ["git", *IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=check
    )
    return done.stdout


def blob(text: str) -> str:
    return str(pygit2.hash(text.encode()))


def settle(repo: GitRepo) -> None:
    """Make every index entry's stat data trustworthy: the files' mtimes a minute in
    the past, recorded by re-adding them, so no entry is racily clean."""
    past = time.time() - 60
    index = repo.repo.index
    index.read()
    for entry in index:
        os.utime(repo.root / entry.path, (past, past), follow_symlinks=False)
        index.add(entry.path)
    index.write()


def check(repo: GitRepo, base: str = "HEAD") -> dict[str, FileEntry]:
    """The worktree snapshot, held to libgit2's status (the former way), and its
    partial diff from ``base`` held to the diff of full snapshots."""
    workspace = Workspace.open(repo.root)
    fast = workspace.snapshot(DISK)
    assert fast == Workspace.open(repo.root)._status_worktree_snapshot()
    revision = workspace.resolve(base)
    partial = workspace.tree_diff(revision, DISK)
    assert partial is not None
    assert diff_snapshots(*partial) == diff_snapshots(workspace.snapshot(revision), fast)
    return fast


def age_folders(repo: GitRepo) -> None:
    """Every folder's modification time a minute in the past, as folders nobody touched
    lately have: a walk keeps what it found in them."""
    past = time.time() - 60
    for folder, subfolders, _ in os.walk(repo.root):
        subfolders[:] = [name for name in subfolders if name != ".git"]
        os.utime(folder, (past, past))


def listings_memo(repo: GitRepo) -> Path:
    return repo.root / ".git" / "graphkit" / "untracked"


@pytest.fixture(params=["walked", "remembered"])
def repo(make_repo: MakeRepo, request: pytest.FixtureRequest) -> GitRepo:
    """A settled repository; "remembered": its folders' listings kept by a walk before
    the test changes anything, so the test's walk lists only the folders it changed."""
    made = make_repo(FILES)
    settle(made)
    if request.param == "remembered":
        age_folders(made)
        Workspace.open(made.root).snapshot(DISK)
        assert listings_memo(made).is_file()
    return made


def test_clean_worktree_is_the_index(repo: GitRepo) -> None:
    assert check(repo) == {p: FileEntry(FILE, blob(t)) for p, t in FILES.items()}


def test_edit_of_the_same_size_is_seen(repo: GitRepo) -> None:
    repo.write("libs/core/a.py", "A = 2\n")
    assert check(repo)["libs/core/a.py"] == FileEntry(FILE, blob("A = 2\n"))


def test_mode_change_only_is_seen(repo: GitRepo) -> None:
    repo.chmod_x("libs/core/a.py")
    assert check(repo)["libs/core/a.py"] == FileEntry(EXEC, blob("A = 1\n"))


def test_file_replaced_by_a_symlink_is_seen(repo: GitRepo) -> None:
    repo.delete("README.md")
    os.symlink("libs/core/a.py", repo.root / "README.md")
    assert check(repo)["README.md"] == FileEntry(LINK, blob("libs/core/a.py"))


def test_deleted_file_is_gone(repo: GitRepo) -> None:
    repo.delete("libs/core/sub/b.py")
    assert "libs/core/sub/b.py" not in check(repo)


def test_new_untracked_files_are_found_in_old_and_new_folders(repo: GitRepo) -> None:
    repo.write("libs/core/new.py", "N = 1\n")
    repo.write("libs/fresh/deep/f.py", "F = 1\n")
    found = check(repo)
    assert found["libs/core/new.py"] == FileEntry(FILE, blob("N = 1\n"))
    assert found["libs/fresh/deep/f.py"] == FileEntry(FILE, blob("F = 1\n"))


def test_ignored_files_and_folders_are_left_out(repo: GitRepo) -> None:
    repo.write(".gitignore", "*.log\nbuild/\nlibs/core/sub\n")
    repo.commit("ignore")
    settle(repo)
    repo.write("libs/core/x.log", "log\n")
    repo.write("build/out/o.py", "O = 1\n")
    repo.write("libs/core/sub/new.py", "N = 1\n")  # an ignored folder that holds tracked files
    found = check(repo)
    assert not {"libs/core/x.log", "build/out/o.py", "libs/core/sub/new.py"} & found.keys()
    assert "libs/core/sub/b.py" in found


def test_nested_repository_is_left_out(repo: GitRepo) -> None:
    GitRepo(repo.root / "vendor" / "other").write("x.py", "X = 1\n")
    assert not any(path.startswith("vendor") for path in check(repo))


def test_file_replaced_by_a_folder_and_folder_by_a_file(repo: GitRepo) -> None:
    repo.delete("README.md")
    repo.write("README.md/inner.md", "inner\n")
    for path in ("libs/util/u.py",):
        repo.delete(path)
    (repo.root / "libs/util").rmdir()
    repo.write("libs/util", "now a file\n")
    found = check(repo)
    assert found["README.md/inner.md"] == FileEntry(FILE, blob("inner\n"))
    assert found["libs/util"] == FileEntry(FILE, blob("now a file\n"))
    assert "libs/util/u.py" not in found and "README.md" not in found


def test_folder_replaced_by_a_symlink_to_a_folder_is_a_link(repo: GitRepo) -> None:
    os.rename(repo.root / "libs/core/sub", repo.root / "elsewhere")
    os.symlink("../../elsewhere", repo.root / "libs/core/sub")
    found = check(repo)
    assert found["libs/core/sub"] == FileEntry(LINK, blob("../../elsewhere"))
    assert "libs/core/sub/b.py" not in found  # git never follows a symlink
    assert found["elsewhere/b.py"] == FileEntry(FILE, blob("B = 1\n"))


def test_staged_changes_and_unstaged_edits_over_them(repo: GitRepo) -> None:
    repo.write("libs/core/a.py", "A = 2\n")
    repo.write("libs/core/staged.py", "S = 1\n")
    repo.stage("libs/core/a.py", "libs/core/staged.py")
    git(repo.root, "rm", "--quiet", "--cached", "README.md")  # staged deletion, kept on disk
    repo.write("libs/core/staged.py", "S = 2\n")
    found = check(repo)
    assert found["libs/core/a.py"] == FileEntry(FILE, blob("A = 2\n"))
    assert found["libs/core/staged.py"] == FileEntry(FILE, blob("S = 2\n"))
    assert found["README.md"] == FileEntry(FILE, blob("# repo\n"))  # untracked now


def test_diff_from_an_older_base_takes_its_commits_too(repo: GitRepo) -> None:
    base = str(repo.repo.head.target)
    repo.write("libs/util/u.py", "U = 2\n")
    repo.move("libs/core/sub/b.py", "libs/core/sub/c.py")
    repo.commit("two")
    settle(repo)
    repo.write("libs/core/a.py", "A = 3\n")
    repo.write("libs/util/u.py", "U = 1\n")  # back to base's content: no change from base
    check(repo, base)


def test_intent_to_add_is_hashed(repo: GitRepo) -> None:
    repo.write("libs/core/later.py", "L = 1\n")
    git(repo.root, "add", "-N", "libs/core/later.py")
    assert check(repo)["libs/core/later.py"] == FileEntry(FILE, blob("L = 1\n"))


def test_skip_worktree_entry_keeps_the_index_whatever_the_disk(repo: GitRepo) -> None:
    git(repo.root, "update-index", "--skip-worktree", "libs/util/u.py")
    repo.delete("libs/util/u.py")
    repo.write("libs/core/a.py", "A = 2\n")
    found = check(repo)
    assert found["libs/util/u.py"] == FileEntry(FILE, blob("U = 1\n"))
    assert found["libs/core/a.py"] == FileEntry(FILE, blob("A = 2\n"))


def test_merge_conflict_takes_the_file_on_disk(repo: GitRepo) -> None:
    git(repo.root, "checkout", "--quiet", "-b", "other")
    repo.write("libs/core/a.py", "A = other\n")
    git(repo.root, "commit", "--quiet", "-am", "other")
    git(repo.root, "checkout", "--quiet", "main")
    repo.write("libs/core/a.py", "A = main\n")
    git(repo.root, "commit", "--quiet", "-am", "main")
    git(repo.root, "merge", "other", check=False)
    assert "UU libs/core/a.py" in git(repo.root, "status", "--short")  # a conflict
    found = Workspace.open(repo.root).snapshot(DISK)
    assert found == Workspace.open(repo.root)._status_worktree_snapshot()
    assert found["libs/core/a.py"].oid == blob(repo.read("libs/core/a.py"))


# The stat cache and git's racy-clean rule, on an index whose recorded blob id is not
# the file's content: only a file that is hashed shows its real content.


def record_stale_blob(repo: GitRepo, path: str, *, index_mtime: float) -> None:
    """Record in the index the blob of "STALE" for ``path``, keeping the file's stat
    data, and give the index file the modification time ``index_mtime``."""
    index_file = repo.root / ".git" / "index"
    data = bytearray(index_file.read_bytes())
    at = data.index(path.encode() + b"\0") - 62  # the entry's fixed part precedes its name
    data[at + 40 : at + 60] = bytes.fromhex(blob("STALE\n"))
    data[-20:] = hashlib.sha1(bytes(data[:-20])).digest()
    index_file.write_bytes(bytes(data))
    os.utime(index_file, (index_mtime, index_mtime))


def test_file_with_matching_stat_data_is_not_read(repo: GitRepo) -> None:
    record_stale_blob(repo, "libs/core/a.py", index_mtime=time.time())
    found = Workspace.open(repo.root).snapshot(DISK)
    assert found["libs/core/a.py"] == FileEntry(FILE, blob("STALE\n"))  # trusted, not hashed


def test_racily_clean_file_is_hashed(repo: GitRepo) -> None:
    # Edited in the second the index was written: its mtime is not older than the
    # index, so matching stat data prove nothing and the file is hashed.
    mtime = (repo.root / "libs/core/a.py").stat().st_mtime
    record_stale_blob(repo, "libs/core/a.py", index_mtime=mtime)
    found = Workspace.open(repo.root).snapshot(DISK)
    assert found["libs/core/a.py"] == FileEntry(FILE, blob("A = 1\n"))


def test_the_stat_cache_and_racy_rule_hold_on_an_index_read_back(repo: GitRepo) -> None:
    # The second snapshot reads the parsed index kept by the first (.git/graphkit/index).
    mtime = (repo.root / "libs/core/a.py").stat().st_mtime
    record_stale_blob(repo, "libs/core/a.py", index_mtime=mtime)
    record_stale_blob(repo, "libs/util/u.py", index_mtime=mtime)
    os.utime(repo.root / "libs/util/u.py", (mtime - 60, mtime - 60))
    for _ in range(2):
        found = Workspace.open(repo.root).snapshot(DISK)
        assert found["libs/core/a.py"] == FileEntry(FILE, blob("A = 1\n"))  # racily clean
        assert found["libs/util/u.py"] == FileEntry(FILE, blob("U = 1\n"))  # stat differs
        assert (repo.root / ".git" / "graphkit" / "index").is_file()


def test_the_snapshot_looks_up_and_lists_as_a_dict_would(repo: GitRepo) -> None:
    repo.delete("libs/util/u.py")
    repo.write("libs/core/new.py", "N = 1\n")
    repo.write("libs/core/a.py", "A = 2\n")
    found = Workspace.open(repo.root).snapshot(DISK)
    assert "libs/util/u.py" not in found and found.get("libs/util/u.py") is None
    assert "libs/core/new.py" in found and found["libs/core/a.py"].oid == blob("A = 2\n")
    assert found["README.md"].oid == blob("# repo\n")
    assert len(found) == len(FILES)
    listed = dict(found.items())
    assert list(found) == list(listed) and len(listed) == len(found)
    assert list(listed)[-1] == "libs/core/new.py"  # the index's order, new files after
    assert found == check(repo)


@pytest.mark.parametrize("version", ["2", "3", "4"])
def test_every_index_version_reads_the_same(repo: GitRepo, version: str) -> None:
    git(repo.root, "update-index", "--index-version", version)
    repo.write("libs/core/a.py", "A = 2\n")
    repo.write("libs/core/new.py", "N = 1\n")
    check(repo)


def test_a_cache_tree_written_by_git_gives_the_same_changes(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = GitRepo(root)
    repo.write_all(FILES)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    committed = read_index(root / ".git" / "index")
    head_tree = str(repo.repo.head.peel(pygit2.Tree).id)
    assert valid_trees(committed)[""] == head_tree == root_tree(committed)
    repo.write("libs/core/sub/b.py", "B = 2\n")
    repo.write("libs/core/new.py", "N = 1\n")
    git(root, "add", "libs/core/sub/b.py", "libs/core/new.py")  # staged: invalidates its folders
    repo.write("libs/util/u.py", "U = 2\n")
    trees = valid_trees(read_index(root / ".git" / "index"))
    assert "libs/util" in trees and "libs/core" not in trees and "" not in trees
    assert root_tree(read_index(root / ".git" / "index")) is None
    found = check(repo)
    assert found["libs/core/new.py"] == FileEntry(FILE, blob("N = 1\n"))


def test_worktree_content_names_what_differs_from_the_cache_tree(repo: GitRepo) -> None:
    def name() -> str | None:
        workspace = Workspace.open(repo.root)
        workspace.snapshot(DISK)
        return workspace.worktree_content()

    assert name() is None  # pygit2's index holds no cache tree: nothing names its tree
    git(repo.root, "write-tree")  # as `git commit` leaves it
    clean = name()
    assert clean is not None and clean == name()
    repo.write("libs/core/a.py", "A = 2\n")
    edited = name()
    assert edited not in (None, clean)
    repo.write("libs/core/a.py", "A = 3\n")
    assert name() not in (None, clean, edited)
    repo.delete("libs/core/a.py")
    assert name() not in (None, clean, edited)
    repo.write("libs/core/a.py", "A = 2\n")
    assert name() == edited
    repo.stage("libs/core/a.py")  # the cache tree no longer names the index's tree
    assert name() is None


def test_fsmonitor_is_asked_instead_of_every_file(repo: GitRepo) -> None:
    # A hook that always reports a.py alone: git trusts it for every other file, and
    # so does graphkit, which asks git (libgit2 cannot ask a monitor).
    hook = repo.root / ".git" / "fsmonitor-hook"
    hook.write_text("#!/bin/sh\nprintf 'token\\0libs/core/a.py\\0'\n")
    hook.chmod(0o755)
    git(repo.root, "config", "core.fsmonitor", str(hook))
    git(repo.root, "status")  # stores the monitor's token in the index, as any status does
    repo.write("libs/core/a.py", "A = 2\n")
    repo.write("libs/util/u.py", "U = 2\n")  # unreported: git and graphkit trust the monitor
    repo.write("libs/core/new.py", "N = 1\n")
    found = Workspace.open(repo.root).snapshot(DISK)
    assert found["libs/core/a.py"] == FileEntry(FILE, blob("A = 2\n"))
    assert found["libs/util/u.py"] == FileEntry(FILE, blob("U = 1\n"))
    assert found["libs/core/new.py"] == FileEntry(FILE, blob("N = 1\n"))
    git(repo.root, "config", "core.fsmonitor", "false")
    assert Workspace.open(repo.root).snapshot(DISK)["libs/util/u.py"].oid == blob("U = 2\n")


def test_a_folder_whose_time_is_unchanged_is_not_listed_again(repo: GitRepo) -> None:
    age_folders(repo)
    check(repo)  # keeps the listings
    folder = repo.root / "libs/util"
    before = folder.stat()
    repo.write("libs/util/new.py", "N = 1\n")
    assert "libs/util/new.py" in check(repo)
    # The same file, but the folder's time put back: the walk trusts the time, as git's
    # untracked cache does, and does not list the folder (this proves the memo is used).
    age_folders(repo)
    check(repo)
    repo.delete("libs/util/new.py")
    os.utime(folder, ns=(before.st_atime_ns, before.st_mtime_ns))
    age_folders(repo)
    os.utime(folder, ns=(before.st_atime_ns, before.st_mtime_ns))
    workspace = Workspace.open(repo.root)
    assert "libs/util/new.py" not in workspace.snapshot(DISK)
    repo.write("libs/util/new.py", "N = 2\n")
    os.utime(folder, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert "libs/util/new.py" not in Workspace.open(repo.root).snapshot(DISK)
    assert "libs/util/new.py" in Workspace.open(repo.root, memo=False).snapshot(DISK)


def test_untracked_files_are_found_again_when_no_folder_changed(repo: GitRepo) -> None:
    repo.write("libs/util/new.py", "N = 1\n")
    repo.write("fresh/deep/x.py", "X = 1\n")
    age_folders(repo)
    assert {"libs/util/new.py", "fresh/deep/x.py"} <= check(repo).keys()  # keeps the listings
    repo.write("libs/core/a.py", "A = 2\n")  # an edit in place: no folder's time changes
    again = check(repo)
    assert {"libs/util/new.py", "fresh/deep/x.py"} <= again.keys()
    assert again["libs/core/a.py"].oid == blob("A = 2\n")


def test_ignore_rules_that_change_without_a_folder_changing_are_seen(repo: GitRepo) -> None:
    repo.write("libs/core/x.log", "log\n")
    repo.write("libs/util/y.log", "log\n")
    age_folders(repo)
    assert {"libs/core/x.log", "libs/util/y.log"} <= check(repo).keys()
    exclude = repo.root / ".git" / "info" / "exclude"
    exclude.parent.mkdir(exist_ok=True)
    exclude.write_text("x.log\n")
    found = check(repo)
    assert "libs/core/x.log" not in found and "libs/util/y.log" in found
    # An untracked .gitignore: its own folder changes, the folders below it do not.
    repo.write("libs/.gitignore", "y.log\n")
    found = check(repo)
    assert "libs/util/y.log" not in found and "libs/.gitignore" in found
    repo.write("libs/.gitignore", "nothing\n")  # the same folder times, other rules
    assert "libs/util/y.log" in check(repo)
    # A tracked .gitignore edited (and then staged: its stat data match again).
    repo.write(".gitignore", "u.py\n")
    assert "libs/util/y.log" in check(repo)
    git(repo.root, "add", ".gitignore")
    age_folders(repo)
    check(repo)
    repo.write(".gitignore", "*.log\n")
    git(repo.root, "add", ".gitignore")
    found = check(repo)
    assert "libs/util/y.log" not in found and "libs/core/x.log" not in found


def test_a_nested_repository_made_in_a_remembered_folder_is_left_out(repo: GitRepo) -> None:
    repo.write("vendor/other/x.py", "X = 1\n")
    age_folders(repo)
    assert "vendor/other/x.py" in check(repo)
    pygit2.init_repository(str(repo.root / "vendor" / "other"))
    assert not any(path.startswith("vendor") for path in check(repo))


def test_no_listings_are_kept_without_the_memo_or_with_untracked_cache_off(
    repo: GitRepo,
) -> None:
    listings_memo(repo).unlink(missing_ok=True)
    age_folders(repo)
    Workspace.open(repo.root, memo=False).snapshot(DISK)
    assert not listings_memo(repo).exists()
    git(repo.root, "config", "core.untrackedCache", "false")
    Workspace.open(repo.root).snapshot(DISK)
    assert not listings_memo(repo).exists()
    git(repo.root, "config", "core.untrackedCache", "true")
    Workspace.open(repo.root).snapshot(DISK)
    assert listings_memo(repo).is_file()


def test_a_damaged_listings_memo_is_a_miss(repo: GitRepo) -> None:
    age_folders(repo)
    check(repo)
    listings_memo(repo).write_bytes(b"not a pickle")
    repo.write("libs/util/new.py", "N = 1\n")
    assert "libs/util/new.py" in check(repo)


def test_a_tracked_folder_removed_then_made_again_is_walked_again(repo: GitRepo) -> None:
    age_folders(repo)
    check(repo)
    repo.delete("libs/core/sub/b.py")
    (repo.root / "libs/core/sub").rmdir()
    assert "libs/core/sub/b.py" not in check(repo)
    age_folders(repo)
    check(repo)  # keeps the listings without the folder
    repo.write("libs/core/sub/new.py", "N = 1\n")
    repo.write("libs/core/sub/deeper/d.py", "D = 1\n")
    found = check(repo)
    assert {"libs/core/sub/new.py", "libs/core/sub/deeper/d.py"} <= found.keys()


def test_an_untracked_folder_ignored_later_is_left_out(repo: GitRepo) -> None:
    repo.write("libs/fresh/deep/f.py", "F = 1\n")
    age_folders(repo)
    assert "libs/fresh/deep/f.py" in check(repo)
    repo.write(".gitignore", "fresh/\n")  # a tracked file now: its folder's time changes
    repo.commit("ignore fresh")
    settle(repo)
    age_folders(repo)
    check(repo)
    repo.write("libs/fresh/deep/g.py", "G = 1\n")
    assert not any(path.startswith("libs/fresh") for path in check(repo))
    repo.delete("libs/fresh/deep/f.py")
    repo.delete("libs/fresh/deep/g.py")
    assert not any(path.startswith("libs/fresh") for path in check(repo))


def test_a_slice_whose_worker_fails_is_done_here() -> None:
    parent = os.getpid()

    def run(start: int, stop: int) -> list[int]:
        if os.getpid() != parent:
            raise RuntimeError("the worker fails")
        return list(range(start, stop))

    assert [n for part in dirty._in_parallel(10, run) for n in part] == list(range(10))


def test_a_sweep_with_no_worker_to_start_is_done_here() -> None:
    # No file descriptor left for a worker's pipe (a process at its limit).
    code = (
        "import os, resource\n"
        "from graphkit.repo import dirty\n"
        "dirty._PARALLEL_FROM = 1\n"
        "used = len(os.listdir('/proc/self/fd'))\n"
        "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (used, hard))\n"
        "assert dirty._fork(lambda a, b: [], 0, 1) is None\n"
        "run = lambda a, b: list(range(a, b))\n"
        "print([n for part in dirty._in_parallel(10, run) for n in part])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(list(range(10)))
