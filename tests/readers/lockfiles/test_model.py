"""The shared lockfile model: the closure walk, changed_members and its reasons."""

from __future__ import annotations

import pickle
import time

import pytest

from graphkit.errors import InputError
from graphkit.readers.lockfiles import LOCKFILES, changed_members, parse_lockfile
from graphkit.readers.lockfiles.model import DepGraph, Lock, Resolved, member_folder

A1 = Resolved("a", "1.0.0", "sha512-a1")
B1 = Resolved("b", "1.0.0", "sha512-b1")
C1 = Resolved("c", "1.0.0", "sha512-c1")


def test_closure_walks_cycles_and_skips_local_nodes() -> None:
    # app -> lib (local) -> a <-> b (a cycle) -> c; tool -> c. Dev deps count for the
    # member itself only: lib's "d" is not in app's closure.
    graph = DepGraph(
        edges={"lib": ("a",), "a": ("b",), "b": ("a", "c"), "c": (), "d": ()},
        external={"a": A1, "b": B1, "c": C1, "d": Resolved("d", "1")},
        members={"app": ("lib",), "lib": ("a", "d"), "tool": ("c",)},
    )
    lock = graph.lock("package-lock.json", "npm")
    a, b = A1.wired(("b 1.0.0",)), B1.wired(("a 1.0.0", "c 1.0.0"))
    assert dict(lock.closure) == {
        "app": frozenset({a, b, C1}),
        "lib": frozenset({a, b, C1, Resolved("d", "1")}),
        "tool": frozenset({C1}),
    }
    assert dict(lock.links) == {}


def test_closure_stops_at_another_members_nodes_and_records_the_link() -> None:
    # app -> lib (a member: owned) -> a; app -> b. app's closure is its own tree.
    graph = DepGraph(
        edges={"lib-node": ("a",), "a": (), "b": ()},
        external={"a": A1, "b": B1},
        members={"app": ("lib-node", "b"), "lib": ("a",)},
        owned={"lib-node": "lib"},
    )
    lock = graph.lock("pnpm-lock.yaml", "npm")
    assert dict(lock.closure) == {"app": frozenset({B1}), "lib": frozenset({A1})}
    assert dict(lock.links) == {"app": frozenset({"lib"})}


def template(parser: str) -> DepGraph[str]:
    """create-t3-turbo at 9a7aeba51d, reduced: eslint-config and a linked package both
    reach @babel/parser 7.28.4 and 7.28.5; only the wiring of @babel/template moves."""
    return DepGraph(
        edges={
            "template": (parser,),
            "generator": ("parser5",),
            "other": ("parser4",),
            "parser4": (),
            "parser5": (),
            "api-node": ("other",),
        },
        external={
            "template": Resolved("@babel/template", "7.27.2", "sha512-t"),
            "generator": Resolved("@babel/generator", "7.28.5", "sha512-g"),
            "other": Resolved("other", "1.0.0", "sha512-o"),
            "parser4": Resolved("@babel/parser", "7.28.4", "sha512-p4"),
            "parser5": Resolved("@babel/parser", "7.28.5", "sha512-p5"),
        },
        members={
            "tooling/eslint": ("template", "generator", "other", "api-node"),
            "packages/api": ("other",),
        },
        owned={"api-node": "packages/api"},
    )


def test_a_package_rewired_to_another_copy_of_a_dependency_is_a_change() -> None:
    before = template("parser4").lock("pnpm-lock.yaml", "npm")
    after = template("parser5").lock("pnpm-lock.yaml", "npm")
    # Both versions of @babel/parser stay in the closure; only the wiring tells.
    changed = changed_members(before, after)
    assert dict(changed or {}) == {
        "tooling/eslint": "@babel/template 7.27.2 now depends on other copies of its dependencies"
    }


def test_closure_of_a_deep_chain_does_not_recurse() -> None:
    depth = 5000
    edges = {f"n{i}": (f"n{i + 1}",) for i in range(depth)}
    external = {f"n{i}": Resolved(f"n{i}", "1") for i in range(depth + 1)}
    lock = DepGraph(edges, external, {"": ("n0",)}).lock("uv.lock", "python")
    assert len(lock.closure[""]) == depth + 1


def test_many_members_sharing_a_big_closure_is_fast() -> None:
    # 5,000 members over one 500-package chain, each with one package of its own: a
    # walk per member would take 2.5M steps, and sets built per chain node 125K.
    edges = {f"p{i}": (f"p{i + 1}",) for i in range(499)}
    external = {f"p{i}": Resolved(f"p{i}", "1") for i in range(500)}
    external |= {f"own{i}": Resolved(f"own{i}", "1") for i in range(5000)}
    members = {f"m{i}": ("p0", f"own{i}") for i in range(5000)}
    started = time.perf_counter()
    lock = DepGraph(edges, external, members).lock("package-lock.json", "npm")
    elapsed = time.perf_counter() - started
    assert len(lock.closure["m0"]) == 501 and Resolved("own7", "1") in lock.closure["m7"]
    assert elapsed < 3.0, elapsed


def lock_of(**closure: frozenset[Resolved]) -> Lock:
    return Lock.of("Cargo.lock", "cargo", closure)


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ({A1}, {Resolved("a", "1.1.0", "x")}, "a 1.0.0 -> 1.1.0"),
        ({A1}, {A1, B1}, "b 1.0.0 added"),
        ({A1, B1}, {A1}, "b 1.0.0 removed"),
        ({A1}, {Resolved("a", "1.0.0", "sha512-other")}, "a 1.0.0 integrity changed"),
        ({A1}, {A1, Resolved("a", "2.0.0")}, "a 1.0.0 -> 1.0.0, 2.0.0"),
        ({B1, C1}, {Resolved("b", "2"), Resolved("c", "2")}, "b 1.0.0 -> 2"),
        ({A1, Resolved("a", "1.0.0")}, {A1}, "a 1.0.0, 1.0.0 -> 1.0.0"),
    ],
)
def test_reason_names_one_differing_package(
    old: set[Resolved], new: set[Resolved], reason: str
) -> None:
    changed = changed_members(lock_of(app=frozenset(old)), lock_of(app=frozenset(new)))
    assert dict(changed or {}) == {"app": reason}


def test_members_added_and_removed_are_changed() -> None:
    before = lock_of(app=frozenset({A1}), old=frozenset())
    after = lock_of(app=frozenset({A1}), new=frozenset())
    assert dict(changed_members(before, after) or {}) == {
        "new": "new in Cargo.lock",
        "old": "no longer in Cargo.lock",
    }


def test_unparseable_side_means_cannot_tell() -> None:
    lock = lock_of(app=frozenset({A1}))
    assert changed_members(None, lock) is None
    assert changed_members(lock, None) is None
    assert changed_members(None, None) is None


def test_lock_is_frozen() -> None:
    lock = lock_of(app=frozenset({A1}))
    with pytest.raises(TypeError):
        lock.closure["x"] = frozenset()  # type: ignore[index]
    assert lock == lock_of(app=frozenset({A1}))


def test_member_folder_is_repo_relative() -> None:
    assert member_folder("package-lock.json", ".") == ""
    assert member_folder("package-lock.json", "") == ""
    assert member_folder("web/pnpm-lock.yaml", "packages/ui") == "web/packages/ui"
    assert member_folder("web/pnpm-lock.yaml", ".") == "web"


def test_every_lockfile_basename_has_an_ecosystem() -> None:
    assert dict(LOCKFILES) == {
        "package-lock.json": "npm",
        "pnpm-lock.yaml": "npm",
        "yarn.lock": "npm",
        "uv.lock": "python",
        "Cargo.lock": "cargo",
        "go.sum": "go",
    }
    with pytest.raises(InputError, match=r"go\.sum"):
        parse_lockfile(b"", "go.sum")


DEEP = 50_000
NESTED_LOCKFILES = {
    "package-lock.json": '{"lockfileVersion": 3, "packages": {"": %s}}' % ("[" * DEEP + "]" * DEEP),
    "pnpm-lock.yaml": "lockfileVersion: '9.0'\nimporters: %s\n" % ("[" * DEEP + "]" * DEEP),
    "yarn.lock": "__metadata:\n  version: 8\nx: %s\n" % ("[" * DEEP + "]" * DEEP),
    "uv.lock": "version = 1\nx = %s\n" % ("[" * DEEP + "]" * DEEP),
    "Cargo.lock": "version = 3\nx = %s\n" % ("{a = " * DEEP + "1" + "}" * DEEP),
}


@pytest.mark.parametrize("name", sorted(NESTED_LOCKFILES))
def test_lockfile_nested_50000_deep_is_an_input_error(name: str) -> None:
    with pytest.raises(InputError) as err:
        parse_lockfile(NESTED_LOCKFILES[name].encode(), f"x/{name}", manifests={})
    assert str(err.value).startswith(f"x/{name}:")
    assert "nested too deeply to read" in str(err.value)


def test_a_lock_pickles_without_the_cached_hashes_of_its_packages() -> None:
    # String hashes differ between processes: a cached hash loaded from the memo
    # would put packages in the wrong buckets of every set they are in.
    package = Resolved("ms", "2.1.3", "sha512-ms", ("debug 4.4.1",))
    hash(package)
    lock = Lock.of("pnpm-lock.yaml", "npm", {"": frozenset({package})}, {"": frozenset({"a"})})
    data = pickle.dumps(lock)
    assert b"_hash" not in data
    assert pickle.loads(data) == lock


def test_a_lock_read_back_from_its_table_has_the_same_closures_and_table() -> None:
    shared = Resolved("ms", "2.1.3", "sha512-ms", ("debug 4.4.1",))
    no_integrity = Resolved("ms", "2.1.3", None)  # None sorts apart from any string
    empty_integrity = Resolved("ms", "2.1.3", "")
    closure = {
        "": frozenset({shared, no_integrity}),
        "a": frozenset({shared, empty_integrity}),
        "b": frozenset(),
    }
    lock = Lock.of("pnpm-lock.yaml", "npm", closure, {"a": frozenset({"b"})})
    copy = pickle.loads(pickle.dumps(lock))
    assert copy == lock
    assert copy.packed == lock.packed
    assert list(copy.closure) == ["", "a", "b"]
    assert dict(copy.closure) == closure
    assert "c" not in copy.closure and copy.closure.get("c") is None
    # One object per package, shared by the closures that hold it, as a parser makes them.
    (first,) = [r for r in copy.closure[""] if r.integrity]
    (second,) = [r for r in copy.closure["a"] if r.integrity]
    assert first is second
    assert lock.packed.packages == (
        ("ms", "2.1.3", None, ()),
        ("ms", "2.1.3", "", ()),
        ("ms", "2.1.3", "sha512-ms", ("debug 4.4.1",)),
    )
