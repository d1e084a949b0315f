"""Symlinks inside the repository: resolution, what a link reaches, and what a change hits."""

from __future__ import annotations

import pygit2
import pytest

from graphkit.analysis.links import Link, links_hit, reached, resolve_links
from graphkit.model import FileEntry


def texts(**links: str) -> dict[str, bytes]:
    return {path.replace("__", "/"): target.encode() for path, target in links.items()}


@pytest.mark.parametrize(
    ("link", "target", "expected"),
    [
        ("a/l", "x.py", Link("a/x.py")),
        ("a/l", "../b/x.py", Link("b/x.py")),
        ("a/b/l", "../../c", Link("c")),
        ("a/l", ".", Link("a")),
        ("a/l", "..", Link("")),
        ("a/l", "./x/../y//z", Link("a/y/z")),
        ("a/l", "../..", None),
        ("a/l", "/etc/hosts", None),
        ("l", "../outside", None),
        ("a/l", "", None),
    ],
)
def test_a_link_resolves_inside_the_repository_or_not_at_all(
    link: str, target: str, expected: Link | None
) -> None:
    assert resolve_links({link: target.encode()}).get(link) == expected


def test_links_on_the_way_are_followed_and_recorded() -> None:
    found = resolve_links({"a/l": b"../b/m/x.py", "b/m": b"../c/real", "c/real": b"../d"})
    assert found["a/l"] == Link("d/x.py", via=("b/m", "c/real"))
    # ".." after a link climbs from where the link leads, as the kernel does.
    assert resolve_links({"a/l": b"m/../y", "a/m": b"../b/c"})["a/l"] == Link("b/y", ("a/m",))


def test_loops_and_targets_that_are_not_utf8_lead_nowhere() -> None:
    assert resolve_links({"a": b"b", "b": b"a", "c": b"caf\xe9"}) == {}
    assert resolve_links({"a/l": b"l/x"}) == {}


def snapshot(*paths: str) -> dict[str, FileEntry]:
    return {p: FileEntry(0o100644, str(pygit2.hash(p.encode()))) for p in paths}


def test_a_link_reaches_the_file_or_every_file_of_the_folder_it_names() -> None:
    snap = snapshot("a/l", "a/f", "b/x.py", "b/y/z.py", "b0/w", "c/m", "d/n")
    links = resolve_links({"a/l": b"../b", "a/f": b"../b/x.py", "b/y/z.py": b"../../d/n"})
    ordered = sorted(snap)
    assert reached(links, snap, ordered, "a/f") == ["b/x.py"]
    # b0/w is not in b; a link inside the folder is followed to what it reaches.
    assert reached(links, snap, ordered, "a/l") == ["b/x.py", "b/y/z.py", "d/n"]


def test_a_change_hits_the_links_that_reach_it_through_links_and_folders() -> None:
    links = resolve_links(
        {"a/l": b"../b", "b/y/ln": b"../../d/n", "e/l": b"../a/l/x.py", "f/l": b"../a/l"}
    )
    assert links_hit(links, ["d/n"]) == {"b/y/ln": "d/n", "a/l": "d/n", "f/l": "d/n"}
    assert links_hit(links, ["b/x.py"]) == {"a/l": "b/x.py", "e/l": "b/x.py", "f/l": "b/x.py"}
    assert links_hit(links, ["a/l"]) == {"e/l": "a/l", "f/l": "a/l"}  # links on the way
    assert links_hit(links, ["c/x"]) == {}
