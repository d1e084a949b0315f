"""What the ecosystem readers share: member globs, relative paths, labels, Packages."""

from __future__ import annotations

import pytest

from graphkit.errors import InputError
from graphkit.labels import Label
from graphkit.readers.manifests.members import (
    Member,
    check_unique,
    label_of,
    match_folders,
    resolve,
    to_packages,
)

FOLDERS = ["", "apps/web", "apps/web/e2e", "packages/ui", "packages/.cache", "packages/legacy"]


@pytest.mark.parametrize(
    ("patterns", "exclude", "matched"),
    [
        (["packages/*"], [], ["packages/legacy", "packages/ui"]),
        (["./packages/*/"], [], ["packages/legacy", "packages/ui"]),
        (["apps/**"], [], ["apps/web", "apps/web/e2e"]),
        (["packages/*", "!packages/legacy"], [], ["packages/ui"]),
        (["apps/**", "packages/*"], ["apps/web"], ["packages/legacy", "packages/ui"]),
        ([".", "apps/web"], [], ["", "apps/web"]),
        (["packages/.cache"], [], ["packages/.cache"]),
    ],
)
def test_match_folders_follows_workspace_glob_rules(
    patterns: list[str], exclude: list[str], matched: list[str]
) -> None:
    assert match_folders(FOLDERS, patterns, exclude) == matched


def test_resolve_keeps_paths_inside_the_repository() -> None:
    assert resolve("crates/cli", "../core") == "crates/core"
    assert resolve("crates/cli", "../..") == ""
    assert resolve("crates/cli", "../../../elsewhere") is None
    assert resolve("crates/cli", "/abs/path") is None


def test_the_root_member_is_labelled_root() -> None:
    assert label_of("", "package.json") == Label("", "root")
    assert label_of("libs/core", "libs/core/go.mod") == Label("libs/core", "core")


def test_to_packages_sorts_and_drops_self_and_unknown_deps() -> None:
    members = [
        Member("b", "b/Cargo.toml", "cargo_crate", "b", 1, frozenset({"a", "b", "gone"})),
        Member("a", "a/Cargo.toml", "cargo_crate", None, 1, attrs=(("x", {"k": [1]}),)),
    ]
    a, b = to_packages(members)
    assert (a.path, a.targets[0].aliases, a.targets[0].attrs) == ("a", (), (("x", '{"k":[1]}'),))
    assert b.targets[0].deps == (Label("a", "a"),)


def test_check_unique_names_both_manifests() -> None:
    with pytest.raises(InputError) as caught:
        check_unique([("x", "a/m", 1), ("x", "b/m", 3)], "things")
    assert str(caught.value) == (
        "b/m:3: two things named 'x': a/m and b/m (names must be unique within a workspace)"
    )
