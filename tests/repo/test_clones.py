"""The clones CI and large monorepos use: partial (blobless), sparse, and default branches
other than ``main``. Each test clones a real local "server" repository with git."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest
from click.testing import Result
from gitrepo import GitRepo

from graphkit.errors import InputError, UnknownStateError
from graphkit.model import FileEntry
from graphkit.repo.workspace import WORKTREE, Revision, Workspace

Cli = Callable[..., Result]

FILES = {
    "libs/a/BUILD.toml": '[[target]]\nname = "a"\nrule = "python_library"\n',
    "libs/a/a.py": "A = 1\n",
    "libs/b/BUILD.toml": '[[target]]\nname = "b"\nrule = "python_library"\n',
    "libs/b/b.py": "B = 1\n",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def server(tmp_path: Path, *, branch: str = "main") -> GitRepo:
    """A repository that serves partial clones, with two commits that edit both packages."""
    repo = GitRepo(tmp_path / "server", branch=branch)
    repo.write_all(FILES)
    repo.commit("one")
    repo.write_all({"libs/a/a.py": "A = 2\n", "libs/b/b.py": "B = 2\n"})
    repo.commit("two")
    repo.repo.config["uploadpack.allowFilter"] = True
    repo.repo.config["uploadpack.allowAnySHA1InWant"] = True
    return repo


def clone(source: GitRepo, into: Path, *args: str) -> Path:
    git(source.root.parent, "clone", "--quiet", *args, f"file://{source.root}", str(into))
    return into


def affected(cli: Cli, cwd: Path, *args: str) -> dict[str, object]:
    result = cli(cwd, "affected", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    found: dict[str, object] = json.loads(result.output)
    return found


def blob_id(root: Path, rev: str, path: str) -> pygit2.Oid:
    tree = pygit2.Repository(str(root)).revparse_single(rev).peel(pygit2.Tree)
    return tree[path].id


def is_local(root: Path, rev: str, path: str) -> bool:
    return blob_id(root, rev, path) in pygit2.Repository(str(root))


# Partial clones: a blob the clone lacks is fetched from the promisor remote.


@pytest.mark.parametrize("filter_arg", ["--filter=blob:none", "--filter=tree:0"])
def test_partial_clone_fetches_the_base_objects_it_lacks(
    tmp_path: Path, cli: Cli, filter_arg: str
) -> None:
    part = clone(server(tmp_path), tmp_path / "part", filter_arg)
    if filter_arg == "--filter=tree:0":  # the base's trees are missing too
        base_tree = pygit2.Repository(str(part)).revparse_single("HEAD~1").peel(pygit2.Commit)
        assert base_tree.tree_id not in pygit2.Repository(str(part))
        Workspace.open(part).resolve("HEAD~1")  # fetches the trees, not the blobs
    assert not is_local(part, "HEAD~1", "libs/a/a.py")  # the clone really lacks it
    found = affected(cli, part, "--base", "HEAD~1", "--head", "HEAD")
    assert found["affected"] == ["//libs/a:a", "//libs/b:b"]
    assert affected(cli, part, "--base", "HEAD~1")["affected"] == ["//libs/a:a", "//libs/b:b"]
    assert is_local(part, "HEAD~1", "libs/a/a.py")


def test_prefetch_fetches_missing_blobs_in_one_batch(tmp_path: Path) -> None:
    part = clone(server(tmp_path), tmp_path / "part", "--filter=blob:none")
    workspace = Workspace.open(part)
    base = workspace.snapshot(workspace.resolve("HEAD~1"))
    workspace.prefetch(base.values())
    assert is_local(part, "HEAD~1", "libs/a/a.py") and is_local(part, "HEAD~1", "libs/b/b.py")


def test_prefetch_outside_a_partial_clone_does_nothing(tmp_path: Path) -> None:
    repo = server(tmp_path)
    workspace = Workspace.open(repo.root)
    workspace.prefetch([FileEntry(0o100644, "0" * 40)])  # no promisor remote: no attempt


def test_unreachable_promisor_names_the_blob_and_the_fix(tmp_path: Path, cli: Cli) -> None:
    source = server(tmp_path)
    part = clone(source, tmp_path / "part", "--filter=blob:none")
    missing = str(blob_id(part, "HEAD~1", "libs/a/a.py"))
    shutil.rmtree(source.root)  # the server is gone
    with pytest.raises(UnknownStateError) as caught:
        Workspace.open(part).read("libs/a/a.py", FileEntry(0o100644, missing))
    message = str(caught.value)
    assert message.startswith(f"libs/a/a.py: blob {missing} not in this partial clone")
    assert f"run `git fetch origin {missing}`" in message
    assert "changed while graphkit was reading it" not in message
    result = cli(part, "affected", "--base", "HEAD~1", "--head", "HEAD")
    assert result.exit_code == 2
    assert "not in this partial clone" in result.output
    assert "Traceback" not in result.output


# Sparse checkouts: files outside the sparse set are unchanged, never deleted.


@pytest.mark.parametrize(
    "sparse_args",
    [("--cone", "libs/a"), ("--no-cone", "/libs/a/")],
    ids=["cone", "non-cone"],
)
@pytest.mark.parametrize("filter_args", [(), ("--filter=blob:none",)], ids=["full", "blobless"])
def test_sparse_checkout_leaves_files_outside_it_unchanged(
    tmp_path: Path, cli: Cli, sparse_args: tuple[str, ...], filter_args: tuple[str, ...]
) -> None:
    sparse = clone(server(tmp_path), tmp_path / "sparse", *filter_args)
    git(sparse, "sparse-checkout", "set", *sparse_args)
    assert not (sparse / "libs/b/b.py").exists()
    found = affected(cli, sparse, "--base", "HEAD")
    assert (found["changed"], found["affected"], found["removed"]) == ([], [], [])
    (sparse / "libs/a/a.py").write_text("A = 3\n")
    found = affected(cli, sparse, "--base", "HEAD")
    assert (found["affected"], found["removed"]) == (["//libs/a:a"], [])
    found = affected(cli, sparse, "--base", "HEAD~1")
    assert (found["affected"], found["removed"]) == (["//libs/a:a", "//libs/b:b"], [])


def test_sparse_index_is_read_through_git(tmp_path: Path, cli: Cli) -> None:
    # libgit2 cannot read a sparse index (its folder entries stand for whole trees).
    sparse = clone(server(tmp_path), tmp_path / "sparse", "--filter=blob:none")
    git(sparse, "sparse-checkout", "set", "--cone", "--sparse-index", "libs/a")
    assert "libs/b/\n" in git(sparse, "ls-files", "--sparse")  # really a sparse index
    found = affected(cli, sparse, "--base", "HEAD")
    assert (found["changed"], found["affected"], found["removed"]) == ([], [], [])
    (sparse / "libs/a/a.py").write_text("A = 3\n")
    (sparse / "libs/a/new.py").write_text("N = 1\n")
    found = affected(cli, sparse, "--base", "HEAD")
    assert found["changed"] == [
        {"path": "libs/a/a.py", "status": "modified"},
        {"path": "libs/a/new.py", "status": "added"},
    ]
    assert (found["affected"], found["removed"]) == (["//libs/a:a"], [])
    found = affected(cli, sparse, "--base", "HEAD~1")
    assert (found["affected"], found["removed"]) == (["//libs/a:a", "//libs/b:b"], [])


def test_git_and_libgit2_list_the_same_worktree(tmp_path: Path) -> None:
    # The sparse-index path (git ls-files + status) against libgit2's, on every status.
    repo = clone(server(tmp_path), tmp_path / "sparse")
    git(repo, "sparse-checkout", "set", "--no-cone", "/libs/a/")
    (repo / "libs/a/a.py").write_text("A = 3\n")  # modified
    (repo / "libs/a/new.py").write_text("N = 1\n")  # untracked
    (repo / "libs/a/staged.py").write_text("S = 1\n")
    git(repo, "add", "libs/a/staged.py")  # staged, then edited again
    (repo / "libs/a/staged.py").write_text("S = 2\n")
    git(repo, "rm", "--quiet", "--cached", "libs/a/BUILD.toml")  # staged deletion, kept on disk
    (repo / "libs/a/gone.py").write_text("G = 1\n")
    git(repo, "add", "libs/a/gone.py")
    (repo / "libs/a/gone.py").unlink()  # deleted from disk only
    workspace = Workspace.open(repo)
    libgit2 = workspace.snapshot(Revision(WORKTREE, WORKTREE))
    assert libgit2 == workspace._git_worktree_snapshot()
    assert "libs/b/b.py" in libgit2 and "libs/a/gone.py" not in libgit2


# The default branch: graphkit.toml, else origin/HEAD, else main, else master.


def feature_branch(repo: GitRepo, branch: str) -> str:
    """Fork a ``feature`` branch off ``branch``'s tip, move both on; the fork point."""
    fork = repo.repo.revparse_single(branch).peel(pygit2.Commit)
    repo.repo.branches.local.create("feature", fork)
    repo.repo.checkout("refs/heads/feature")
    repo.write("libs/a/feature.py", "F = 1\n")
    repo.commit("on feature")
    return str(fork.id)


def test_default_branch_is_what_origin_head_names(tmp_path: Path) -> None:
    # npm/cli's default branch is `latest`: neither main nor master.
    part = clone(server(tmp_path, branch="latest"), tmp_path / "clone")
    local = GitRepo.__new__(GitRepo)
    local.root, local.repo = part, pygit2.Repository(str(part))
    fork = feature_branch(local, "origin/latest")
    local.repo.branches.local.delete("latest")
    base = Workspace.open(part).default_base()
    assert base == Revision("merge-base(HEAD, origin/latest)", fork)


def test_default_branch_falls_back_to_master(tmp_path: Path) -> None:
    # helix-editor/helix: `master`, and no remote at all.
    repo = GitRepo(tmp_path / "repo", branch="master")
    repo.write_all(FILES)
    repo.commit("one")
    fork = feature_branch(repo, "master")
    assert Workspace.open(repo.root).default_base() == Revision("merge-base(HEAD, master)", fork)


def test_graphkit_toml_default_branch_overrides_origin_head(tmp_path: Path, cli: Cli) -> None:
    repo = clone(server(tmp_path), tmp_path / "clone")
    (repo / "graphkit.toml").write_text('[workspace]\ndefault_branch = "release"\n')
    result = cli(repo, "affected")
    assert result.exit_code == 2
    assert result.output == (
        "graphkit: error: graphkit.toml: default branch 'release' not found "
        "(tried release, origin/release) (fix [workspace] default_branch, or pass --base REV)\n"
    )


def test_no_default_branch_lists_what_was_tried(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo", branch="trunk")
    repo.write_all(FILES)
    repo.commit("one")
    with pytest.raises(InputError) as caught:
        Workspace.open(repo.root).default_base()
    assert str(caught.value) == (
        "no default branch found (tried origin/HEAD (not set), main, origin/main, master, "
        "origin/master) (set [workspace] default_branch in graphkit.toml, run "
        "`git remote set-head origin --auto`, or pass --base REV)"
    )


def test_default_base_reads_the_worktree_head(tmp_path: Path, cli: Cli) -> None:
    repo = GitRepo(tmp_path / "repo", branch="master")
    repo.write_all(FILES)
    repo.commit("one")
    repo.write("libs/b/b.py", "B = 9\n")
    found = affected(cli, repo.root)
    assert (found["head"], found["affected"]) == (WORKTREE, ["//libs/b:b"])
