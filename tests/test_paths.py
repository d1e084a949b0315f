"""Repo-relative paths and the guard that keeps restored files inside the workspace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from graphkit.errors import InputError
from graphkit.paths import inside_workspace, is_under, parent_dirs, repo_path


@pytest.mark.parametrize("text", ["a", "a/b/c.py", ".github/workflows/ci.yml", "a..b/c", "..a"])
def test_repo_path_accepts_normalized_relative_paths(text: str) -> None:
    assert repo_path(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "/etc/passwd",
        "../outside",
        "a/../b",
        "a/..",
        "./a",
        "a/./b",
        ".",
        "a//b",
        "a/",
        "a\\b",
        "a\0b",
    ],
)
def test_repo_path_rejects_anything_else(text: str) -> None:
    with pytest.raises(InputError, match="repo-relative path"):
        repo_path(text)


def test_repo_path_error_names_the_source() -> None:
    with pytest.raises(InputError) as caught:
        repo_path("../x", source="graphkit.toml")
    assert str(caught.value) == "graphkit.toml: '../x' is not a normalized repo-relative path"


def test_parent_dirs_lists_folders_deepest_first_ending_at_root() -> None:
    assert parent_dirs("a/b/c.py") == ["a/b", "a", ""]
    assert parent_dirs("top.txt") == [""]
    assert parent_dirs("") == []


@pytest.mark.parametrize(
    ("path", "folder"),
    [("a/b/c.py", "a/b"), ("a/b", "a/b"), ("a/b/c.py", ""), ("", "")],
)
def test_is_under_folder_itself_or_below(path: str, folder: str) -> None:
    assert is_under(path, folder)


@pytest.mark.parametrize(
    ("path", "folder"),
    [("a/bc/d.py", "a/b"), ("a", "a/b"), ("b/a", "a")],
)
def test_is_under_rejects_siblings_with_a_shared_prefix(path: str, folder: str) -> None:
    assert not is_under(path, folder)


def test_inside_workspace_allows_a_nested_path(tmp_path: Path) -> None:
    (tmp_path / "out" / "bin").mkdir(parents=True)
    assert inside_workspace(tmp_path, "out/bin/tool") == tmp_path.resolve() / "out/bin/tool"


def test_inside_workspace_allows_a_path_not_yet_created(tmp_path: Path) -> None:
    assert inside_workspace(tmp_path, "new/dir/file") == tmp_path.resolve() / "new/dir/file"


def test_inside_workspace_allows_a_symlink_that_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink("real", tmp_path / "alias")
    assert inside_workspace(tmp_path, "alias/file") == tmp_path.resolve() / "alias/file"


@pytest.mark.parametrize("relative", ["/etc/passwd", "../escape", "a/../../escape", "", "."])
def test_inside_workspace_refuses_absolute_and_climbing_paths(
    tmp_path: Path, relative: str
) -> None:
    with pytest.raises(InputError, match="refusing path"):
        inside_workspace(tmp_path, relative)


def test_inside_workspace_refuses_a_symlink_pointing_outside(tmp_path: Path) -> None:
    root, outside = tmp_path / "ws", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside / "secret", root / "link")
    with pytest.raises(InputError, match="resolves outside the workspace"):
        inside_workspace(root, "link")


def test_inside_workspace_refuses_a_symlinked_parent_folder_pointing_outside(
    tmp_path: Path,
) -> None:
    root, outside = tmp_path / "ws", tmp_path / "outside"
    (root / "out").mkdir(parents=True)
    outside.mkdir()
    os.symlink(outside, root / "out" / "dir")
    with pytest.raises(InputError, match="resolves outside the workspace"):
        inside_workspace(root, "out/dir/file.txt")


@pytest.mark.parametrize("relative", [".git/hooks/post-checkout", "sub/.git/config", ".GIT/x"])
def test_inside_workspace_refuses_anything_under_git(tmp_path: Path, relative: str) -> None:
    with pytest.raises(InputError, match=r"inside \.git"):
        inside_workspace(tmp_path, relative)


def test_inside_workspace_refuses_a_symlink_leading_into_git(tmp_path: Path) -> None:
    (tmp_path / ".git" / "hooks").mkdir(parents=True)
    os.symlink(".git/hooks", tmp_path / "hooks")
    with pytest.raises(InputError, match=r"inside \.git"):
        inside_workspace(tmp_path, "hooks/post-checkout")
