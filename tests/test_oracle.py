"""The oracle: a target is affected exactly when its content key differs.

Hypothesis generates small workspaces and random edit sequences (files, modes,
renames, manifests, nested packages, rules, global inputs, imports that cross
targets, resolve ambiguously or close a cycle; npm members with dependencies and
devDependencies, Cargo crates with dependencies and dev-dependencies, both free to
form cycles; JS imports from production and from test files) and holds the fast
graph walk of ``graphkit.analysis.affected`` to that definition, with two faces: a
target is affected exactly when its key differs, and its dependents are reached
exactly when its interface key differs. Deliberately wrong walks and keys must be
caught: that is the negative control that proves the property can fail.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import pygit2
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import graphkit.analysis.affected as affected_module
from graphkit.analysis.affected import Side, find_affected
from graphkit.analysis.graph import BuildGraph, components, load_graph
from graphkit.analysis.inferred import infer_graph
from graphkit.analysis.keys import KeyRecord, compute_keys
from graphkit.analysis.links import links_hit
from graphkit.errors import InputError
from graphkit.labels import Label
from graphkit.model import FileEntry, Snapshot
from graphkit.repo.changes import diff_snapshots

PACKAGES = ["a", "a/sub", "b", "c/d"]
FILES = ["x.py", "y.py", "src/m.py", "data/v.json", "t_test.sh", "notes.md"]
GLOBS: list[list[str] | None] = [
    None,
    ["*.py"],
    ["src/**"],
    ["**/*.py"],
    ["data/*"],
    ["*", "!notes.md"],
    [],
]
RULES = ["python_library", "python_test", "filegroup", "sh_test", "custom"]
# Symlinks: to files and folders of other packages, to their own folder or the root,
# along other links, dangling, out of the repository, and looping.
LINK_NAMES = ["ln", "l.py", "data/ln"]
LINK_TARGETS = [
    "../b/x.py", "../../b/x.py", "x.py", "src", "../b", "../c/d/data", ".", "..", "ln",
    "../a/ln", "../b/ln/x.py", "data/ln", "nowhere.py", "../../../../outside", "/etc/hosts",
]  # fmt: skip
RULE_FILE = "tools/rules/custom.toml"
CUSTOM_RULE = '[rule.custom]\nsrcs = ["{glob}"]\n\n[rule.custom.tasks.build]\ncommand = "true"\n'


@dataclass
class Tree:
    """A workspace as plain data: {path: (bytes, executable)}, and {symlink: its target}."""

    files: dict[str, tuple[bytes, bool]] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)

    def snapshot(self) -> dict[str, FileEntry]:
        found = {
            path: FileEntry(0o100755 if exe else 0o100644, str(pygit2.hash(data)))
            for path, (data, exe) in self.files.items()
        }
        for path, target in self.links.items():
            found[path] = FileEntry(0o120000, str(pygit2.hash(target.encode())))
        return found

    def read(self, path: str, entry: FileEntry) -> bytes:
        if path in self.links:
            return self.links[path].encode()
        return self.files[path][0]

    def copy(self) -> Tree:
        return Tree(dict(self.files), dict(self.links))

    def link(self, path: str, target: str) -> None:
        self.files.pop(path, None)
        self.links[path] = target


@dataclass(frozen=True)
class TargetSpec:
    name: str
    rule: str
    srcs: list[str] | None
    deps: tuple[str, ...]


def manifest(targets: list[TargetSpec], comment: str = "") -> bytes:
    lines = [f"# {comment}"] if comment else []
    for t in targets:
        lines += ["[[target]]", f'name = "{t.name}"', f'rule = "{t.rule}"']
        if t.srcs is not None:
            lines.append("srcs = [" + ", ".join(f'"{g}"' for g in t.srcs) + "]")
        if t.deps:
            lines.append("deps = [" + ", ".join(f'"{d}"' for d in t.deps) + "]")
        lines.append("")
    return "\n".join(lines).encode()


NPM_ROOT = json.dumps({"name": "root", "private": True, "workspaces": PACKAGES}).encode()


def npm_name(folder: str) -> str:
    return "@o/" + folder.replace("/", "-")


def npm_manifest(
    folder: str, deps: list[str], version: str = "1.0.0", dev: list[str] | None = None
) -> bytes:
    manifest: dict[str, object] = {"name": npm_name(folder), "version": version}
    if deps:
        manifest["dependencies"] = {npm_name(d): "*" for d in deps}
    if dev:
        manifest["devDependencies"] = {npm_name(d): "*" for d in dev}
    return json.dumps(manifest).encode()


def cargo_manifest(folder: str, deps: list[str], dev: list[str]) -> bytes:
    """A crate with path deps; a dev-dependency serves its tests only."""
    lines = ["[package]", f'name = "c-{folder.replace("/", "-")}"', 'version = "0.1.0"']
    for table, folders in (("dependencies", deps), ("dev-dependencies", dev)):
        if folders:
            lines.append(f"[{table}]")
            for dep in folders:
                path = posixpath.relpath(dep, folder)
                lines.append(f'c-{dep.replace("/", "-")} = {{ path = "{path}" }}')
    return ("\n".join(lines) + "\n").encode()


def split_deps(draw: st.DrawFn, folder: str, members: list[str]) -> tuple[list[str], list[str]]:
    """Some other members as deps, each a normal or a dev dep (cycles allowed)."""
    others = [m for m in members if m != folder]
    chosen = draw(st.lists(st.sampled_from(others), max_size=2, unique=True)) if others else []
    dev = [d for d in chosen if draw(st.booleans())]
    return [d for d in chosen if d not in dev], dev


# JS files of npm members: production code, a test file whose imports are test edges,
# test data (never scanned) and docs (outside the interface).
JS_FILES = ["index.js", "src/x.test.js", "__fixtures__/f.js", "CHANGELOG.md"]


@st.composite
def workspaces(draw: st.DrawFn, kinds: tuple[str, ...] = ("build", "npm", "cargo")) -> Tree:
    """A valid workspace: BUILD.toml packages whose deps only point 'earlier' (a DAG),
    and npm members and crates whose deps may close cycles."""
    tree = Tree()
    tree.files["graphkit.toml"] = (
        b'[workspace]\nglobal_inputs = ["ci/*.yml"]\nrules_dir = "tools/rules"\n',
        False,
    )
    tree.files["ci/main.yml"] = (b"on: push\n", False)
    tree.files[RULE_FILE] = (CUSTOM_RULE.format(glob="*.py").encode(), False)
    tree.files["README.md"] = (b"hello\n", False)
    earlier: list[str] = []
    npm_members: list[str] = []
    crates: list[str] = []
    tree.files["package.json"] = (NPM_ROOT, False)
    size = 1 if "build" in kinds else 3
    for package in draw(
        st.lists(st.sampled_from(PACKAGES), min_size=size, max_size=4, unique=True)
    ):
        kind = draw(st.sampled_from(kinds))
        if kind != "build":  # an ecosystem package instead of a BUILD.toml one
            (npm_members if kind == "npm" else crates).append(package)
            earlier.append(f"//{package}:{package.rsplit('/', 1)[-1]}")
            names = draw(st.lists(st.sampled_from(FILES), min_size=1, unique=True))
            if kind == "npm":  # an entry point, so that importing the package resolves
                names += ["index.js", *draw(st.lists(st.sampled_from(JS_FILES[1:]), unique=True))]
            for name in names:
                tree.files[f"{package}/{name}"] = (initial(draw, f"{package}/{name}"), False)
            continue
        targets = []
        for index in range(draw(st.integers(1, 3))):
            deps = (
                draw(st.lists(st.sampled_from(earlier), max_size=2, unique=True)) if earlier else []
            )
            spec = TargetSpec(
                f"t{index}", draw(st.sampled_from(RULES)), draw(st.sampled_from(GLOBS)), tuple(deps)
            )
            targets.append(spec)
        earlier += [f"//{package}:{t.name}" for t in targets]
        tree.files[f"{package}/BUILD.toml"] = (manifest(targets), False)
        for name in draw(st.lists(st.sampled_from(FILES), min_size=1, unique=True)):
            tree.files[f"{package}/{name}"] = (initial(draw, f"{package}/{name}"), False)
    # Ecosystem deps may point anywhere among their own kind: they may close cycles.
    for folder in npm_members:
        deps, dev = split_deps(draw, folder, npm_members)
        tree.files[f"{folder}/package.json"] = (npm_manifest(folder, deps, dev=dev), False)
    for folder in crates:
        deps, dev = split_deps(draw, folder, crates)
        tree.files[f"{folder}/Cargo.toml"] = (cargo_manifest(folder, deps, dev), False)
    for _ in range(draw(st.integers(0, 2))):
        folder = draw(st.sampled_from([*PACKAGES, "docs"]))
        name = draw(st.sampled_from(LINK_NAMES))
        tree.link(f"{folder}/{name}", draw(st.sampled_from(LINK_TARGETS)))
    return tree


def initial(draw: st.DrawFn, path: str) -> bytes:
    """A file's first content: unique, or (for Python and JS files) an import."""
    if path.endswith(".py") and draw(st.booleans()):
        return draw(st.sampled_from(IMPORTS))
    if path.endswith(".js") and draw(st.booleans()):
        return draw(st.sampled_from(JS_IMPORTS))
    return path.encode()


# Every BUILD.toml folder is a Python source root, so `import x` may resolve in one
# package, be ambiguous between several, or find nothing (an external module).
IMPORTS = [b"import x\n", b"import y\n", b"from src import m\n", b"import x, y\n"]


# Workspace package names: an import of one is an edge to that npm member, if it is one.
JS_IMPORTS = [f'import "{npm_name(p)}";\n'.encode() for p in PACKAGES]


def content(draw: st.DrawFn) -> bytes:
    return draw(st.sampled_from([b"1", b"2", b"3", b"same", *IMPORTS, *JS_IMPORTS]))


EDITS = (
    "modify",
    "add",
    "delete",
    "rename",
    "chmod",
    "manifest",
    "package",
    "rule",
    "global",
    "npm",
    "cargo",
    "link",
)
# Edits that keep an npm-and-Cargo workspace free of BUILD.toml files.
ECOSYSTEM_EDITS = ("modify", "add", "delete", "rename", "npm", "cargo", "link")


@st.composite
def edits(draw: st.DrawFn, tree: Tree, kinds: tuple[str, ...] = EDITS) -> Tree:
    """A random sequence of edits; results that declare an invalid graph are filtered out."""
    head = tree.copy()
    for _ in range(draw(st.integers(1, 4))):
        paths = sorted(head.files)
        kind = draw(st.sampled_from(kinds))
        if kind == "modify":
            path = draw(st.sampled_from(paths))
            head.files[path] = (content(draw), head.files[path][1])
        elif kind == "add":
            folder = draw(st.sampled_from([*PACKAGES, "docs", "a/sub/deeper"]))
            name = draw(st.sampled_from(FILES + JS_FILES))
            head.files[f"{folder}/{name}"] = (content(draw), False)
        elif kind == "delete":
            head.files.pop(draw(st.sampled_from(paths)))
        elif kind == "rename":
            old = draw(st.sampled_from(paths))
            folder = draw(st.sampled_from([*PACKAGES, "docs"]))
            path = f"{folder}/{draw(st.sampled_from(FILES))}"
            head.links.pop(path, None)
            head.files[path] = head.files.pop(old)
        elif kind == "chmod":
            path = draw(st.sampled_from(paths))
            head.files[path] = (head.files[path][0], not head.files[path][1])
        elif kind == "manifest":
            _edit_manifest(draw, head)
        elif kind == "package":
            folder = draw(st.sampled_from(PACKAGES))
            path = f"{folder}/BUILD.toml"
            if path in head.files and draw(st.booleans()):
                head.files.pop(path)
            else:
                head.files[path] = (manifest([TargetSpec("n", "filegroup", None, ())]), False)
        elif kind == "npm":
            _edit_npm(draw, head)
        elif kind == "cargo":
            _edit_cargo(draw, head)
        elif kind == "rule":
            glob = draw(st.sampled_from(["*.py", "**", "src/*", "*.md"]))
            head.files[RULE_FILE] = (CUSTOM_RULE.format(glob=glob).encode(), False)
        else:
            head.files["ci/main.yml"] = (content(draw), False)
    return head


def _edit_link(draw: st.DrawFn, head: Tree) -> None:
    """Add a symlink, point one elsewhere, or drop one."""
    choice = draw(st.sampled_from(["add", "retarget", "drop"]))
    if choice != "add" and head.links:
        path = draw(st.sampled_from(sorted(head.links)))
        if choice == "drop":
            head.links.pop(path)
            return
    else:
        folder = draw(st.sampled_from([*PACKAGES, "docs"]))
        path = f"{folder}/{draw(st.sampled_from(LINK_NAMES))}"
    head.link(path, draw(st.sampled_from(LINK_TARGETS)))


def _edit_npm(draw: st.DrawFn, head: Tree) -> None:
    """Add, drop, re-version or reformat an npm member, give it a script, or change its
    workspace deps."""
    folder = draw(st.sampled_from(PACKAGES))
    path = f"{folder}/package.json"
    members = sorted(p.rsplit("/", 1)[0] for p in head.files if p.endswith("/package.json"))
    choice = draw(st.sampled_from(["drop", "deps", "version", "reformat", "test", "build"]))
    if path in head.files and choice == "drop":
        head.files.pop(path)
        return
    if path in head.files and choice in ("reformat", "test", "build"):
        # The same document re-indented and reordered, or with a script: a check
        # script reaches the member only, a build script its dependents too.
        doc = json.loads(head.files[path][0])
        if choice != "reformat":
            doc["scripts"] = {choice: "true"}
        head.files[path] = (json.dumps(dict(reversed(doc.items())), indent=4).encode(), False)
        return
    deps, dev = split_deps(draw, folder, members)
    version = "2.0.0" if choice == "version" else "1.0.0"
    head.files[path] = (npm_manifest(folder, deps, version, dev), False)


def _edit_cargo(draw: st.DrawFn, head: Tree) -> None:
    """Add or drop a crate, or change its deps and dev-dependencies (cycles allowed)."""
    folder = draw(st.sampled_from(PACKAGES))
    path = f"{folder}/Cargo.toml"
    if path in head.files and draw(st.booleans()):
        head.files.pop(path)
        return
    crates = sorted(p.rsplit("/", 1)[0] for p in head.files if p.endswith("/Cargo.toml"))
    deps, dev = split_deps(draw, folder, [*crates, folder])
    head.files[path] = (cargo_manifest(folder, deps, dev), False)


def _edit_manifest(draw: st.DrawFn, head: Tree) -> None:
    manifests = sorted(p for p in head.files if p.endswith("BUILD.toml"))
    if not manifests:
        return
    path = draw(st.sampled_from(manifests))
    choice = draw(st.sampled_from(["comment", "srcs", "rule", "drop", "add"]))
    text = head.files[path][0].decode()
    if choice == "comment":
        text = f"# edited\n{text}\n# trailing\n"
    elif choice == "srcs":
        glob = draw(st.sampled_from(["*.py", "data/*", "**"]))
        text = (
            text.replace('rule = "', f'srcs = ["{glob}"]\nrule = "', 1)
            if "srcs" not in text
            else (text.replace("srcs = [", f'srcs = ["{glob}", ', 1))
        )
    elif choice == "rule":
        text = text.replace('rule = "', 'rule = "filegroup"\n# was: "', 1)
    elif choice == "drop":
        blocks = text.split("[[target]]")
        if len(blocks) > 2:
            text = "[[target]]".join(blocks[:-1])
    else:
        text += '\n[[target]]\nname = "extra"\nrule = "python_library"\n'
    head.files[path] = (text.encode(), False)


def _load(tree: Tree) -> BuildGraph | None:
    try:
        return infer_graph(load_graph(tree.snapshot(), tree.read), tree.snapshot(), tree.read)
    except InputError:
        return None  # the edit declared a broken graph (e.g. a dep on a removed target)


KeyFunction = Callable[[BuildGraph, Snapshot], dict[Label, KeyRecord]]


def check_against_keys(
    base_tree: Tree, head_tree: Tree, key_function: KeyFunction = compute_keys
) -> list[str]:
    """Assert the walk equals the key difference, face by face; return what the case
    exercised. A target is affected iff its key differs, and its reason says its
    interface moved (dependents affected) iff its interface key differs."""
    base_graph, head_graph = _load(base_tree), _load(head_tree)
    assert base_graph is not None
    if head_graph is None:
        return ["head graph invalid"]
    base_snap, head_snap = base_tree.snapshot(), head_tree.snapshot()
    result = find_affected(
        Side(base_graph, base_snap),
        Side(head_graph, head_snap),
        diff_snapshots(base_snap, head_snap),
    )
    base_keys = key_function(base_graph, base_snap)
    head_keys = key_function(head_graph, head_snap)
    expected = {
        label
        for label, record in head_keys.items()
        if label not in base_keys or base_keys[label].key != record.key
    }
    dependents = any(reason.kind == "dependency" for reason in result.targets.values())
    paths = [p for change in result.changed for p in change.paths]
    hit = links_hit(base_graph.links, paths) or links_hit(head_graph.links, paths)
    assert set(result.targets) == expected
    assert set(result.removed) == set(base_keys) - set(head_keys)
    interface_moved = {
        label
        for label in expected
        if label not in base_keys or base_keys[label].interface != head_keys[label].interface
    }
    assert {label for label, r in result.targets.items() if r.interface} == interface_moved
    tests_only = any(not reason.interface for reason in result.targets.values())
    return [
        f"affected {min(len(expected), 3)}+, through dependents: {dependents}",
        f"tests only: {tests_only}",
        f"inferred deps: {bool(head_graph.inferred)}",
        f"test edges: {any(head_graph.test_only_deps(t) for t in head_graph.targets)}",
        f"test imports: {any(v.test for d in head_graph.inferred.values() for v in d.values())}",
        f"cycle: {any(len(c) > 1 for c in components(head_graph, test_edges=False))}",
        f"a change reaches a symlink: {bool(hit)}",
    ]


@st.composite
def histories(
    draw: st.DrawFn, kinds: tuple[str, ...] = ("build", "npm", "cargo")
) -> tuple[Tree, Tree]:
    base = draw(workspaces(kinds))
    return base, draw(edits(base, EDITS if "build" in kinds else ECOSYSTEM_EDITS))


ORACLE_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@ORACLE_SETTINGS
@given(histories())
def test_walk_matches_key_oracle(history: tuple[Tree, Tree]) -> None:
    for exercised in check_against_keys(*history):
        event(exercised)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(kinds=("npm", "cargo", "cargo")))
def test_walk_matches_key_oracle_with_ecosystem_cycles(history: tuple[Tree, Tree]) -> None:
    """Only npm members and crates: dev edges, test imports and cycles are frequent."""
    for exercised in check_against_keys(*history):
        event(exercised)


def test_negative_control_skipping_dependents_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A walk that forgets reverse dependents must fail the oracle."""

    def identity(graph: BuildGraph, seeds: dict[object, object]) -> dict[object, object]:
        return dict(seeds)

    monkeypatch.setattr(affected_module, "with_dependents", identity)

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(histories())
    def wrong_walk(history: tuple[Tree, Tree]) -> None:
        check_against_keys(*history)

    with pytest.raises(AssertionError):
        wrong_walk()


def test_negative_control_ignoring_import_changes_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A walk blind to imports that reach other targets than before must fail the oracle.

    Random histories rarely change where an untouched file's import resolves without
    seeding the new target too, so the control is one such history: ``import y`` in
    ``a`` is ambiguous between ``b`` and ``c`` until ``c/y.py`` is deleted. ``c`` is
    seeded, but at head ``a`` no longer depends on it: only the import seed finds ``a``.
    """
    base = Tree()
    for package in ("a", "b", "c"):
        spec = TargetSpec(package, "python_library", None, ())
        base.files[f"{package}/BUILD.toml"] = (manifest([spec]), False)
        base.files[f"{package}/y.py"] = (b"Y = 1\n", False)
    base.files["a/x.py"] = (b"import y\n", False)
    base.files.pop("a/y.py")
    head = base.copy()
    head.files.pop("c/y.py")
    check_against_keys(base, head)  # the real walk agrees with the keys
    monkeypatch.setattr(affected_module, "_import_seeds", lambda base, head: iter(()))
    with pytest.raises(AssertionError):
        check_against_keys(base, head)


def helix_like() -> tuple[Tree, Tree]:
    """Three crates: ``b`` dev-depends on ``a`` (its tests use it), ``c/d`` depends on
    ``b``; ``a`` is edited. ``a`` and ``b`` are affected, ``c/d`` is not."""
    base = Tree()
    base.files["a/Cargo.toml"] = (cargo_manifest("a", [], []), False)
    base.files["b/Cargo.toml"] = (cargo_manifest("b", [], ["a"]), False)
    base.files["c/d/Cargo.toml"] = (cargo_manifest("c/d", ["b"], []), False)
    for folder in ("a", "b", "c/d"):
        base.files[f"{folder}/x.py"] = (folder.encode(), False)
    head = base.copy()
    head.files["a/x.py"] = (b"edited", False)
    return base, head


def affected_labels(base: Tree, head: Tree) -> list[str]:
    """The labels the walk reports affected from ``base`` to ``head``, sorted."""
    base_graph, head_graph = _load(base), _load(head)
    assert base_graph is not None and head_graph is not None
    result = find_affected(
        Side(base_graph, base.snapshot()),
        Side(head_graph, head.snapshot()),
        diff_snapshots(base.snapshot(), head.snapshot()),
    )
    return sorted(str(label) for label in result.targets)


def test_a_test_only_edge_affects_the_dependent_and_stops_there() -> None:
    base, head = helix_like()
    check_against_keys(base, head)
    assert affected_labels(base, head) == ["//a:a", "//b:b"]


def test_a_test_script_added_as_a_fixture_goes_leaves_the_interface_alone() -> None:
    """A package.json that gains a test script (its definition changes, its interface
    definition does not) while a fixture outside its interface is deleted: the package
    is affected, its dependent is not. (Found by hypothesis: the layout check compared
    whole definitions and reported the interface moved.)"""
    manifest = b'{"name": "@o/a", "version": "1.0.0"}'
    base = Tree(
        files={
            "package.json": (b'{"name": "root", "private": true, "workspaces": ["a", "d"]}', False),
            "a/package.json": (manifest, False),
            "a/index.js": (b"a", False),
            "a/__fixtures__/f.js": (b"f", False),
            "d/package.json": (b'{"name": "@o/d", "dependencies": {"@o/a": "*"}}', False),
            "d/index.js": (b"d", False),
        }
    )
    head = base.copy()
    del head.files["a/__fixtures__/f.js"]
    head.files["a/package.json"] = (manifest[:-1] + b', "scripts": {"test": "true"}}', False)
    check_against_keys(base, head)
    assert affected_labels(base, head) == ["//a:a"]


def full_key_reader(graph: BuildGraph, snapshot: Snapshot) -> dict[Label, KeyRecord]:
    """Wrong keys: each dependent reads its deps' full keys, as if every edge carried."""
    wrong = replace(graph)
    wrong.__dict__["carrying"] = {t: frozenset(graph.direct_deps(t)) for t in graph.targets}
    return compute_keys(wrong, snapshot)


def test_negative_control_a_dependent_reading_a_full_key_is_caught() -> None:
    """Keys where a dependent reads a dep's full key instead of its interface key
    disagree with the walk: the oracle must notice."""
    with pytest.raises(AssertionError):
        check_against_keys(*helix_like(), key_function=full_key_reader)


def test_negative_control_a_walk_that_carries_test_edges_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A walk that goes on past a test-only edge affects ``c/d``: the oracle must notice."""
    monkeypatch.setattr(BuildGraph, "carries", lambda self, label, dep: True)
    with pytest.raises(AssertionError):
        check_against_keys(*helix_like())


def hide_notes(graph: BuildGraph, label: Label, files: Iterable[str]) -> frozenset[str]:
    """A stand-in classification: ``notes.md`` files are outside every interface."""
    return frozenset(p for p in files if p.endswith("notes.md"))


def test_files_outside_the_interface_key_their_target_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hook for non-interface files: once it names a file, an edit there affects
    its target (tests only) and no dependent, and random histories still agree."""
    import graphkit.analysis.keys as keys_module

    monkeypatch.setattr(keys_module, "non_interface_files", hide_notes)
    monkeypatch.setattr(affected_module, "non_interface_files", hide_notes)
    base = Tree()
    base.files["a/Cargo.toml"] = (cargo_manifest("a", [], []), False)
    base.files["b/Cargo.toml"] = (cargo_manifest("b", ["a"], []), False)
    for folder in ("a", "b"):
        base.files[f"{folder}/x.py"] = (folder.encode(), False)
    base.files["a/notes.md"] = (b"notes", False)
    head = base.copy()
    head.files["a/notes.md"] = (b"edited", False)
    check_against_keys(base, head)
    graph = _load(head)
    assert graph is not None
    result = find_affected(
        Side(_load(base) or graph, base.snapshot()),
        Side(graph, head.snapshot()),
        diff_snapshots(base.snapshot(), head.snapshot()),
    )
    assert {str(k): str(v) for k, v in result.targets.items()} == {
        "//a:a": "a/notes.md modified (tests only: dependents not affected)"
    }

    @settings(max_examples=100, deadline=None, database=None, derandomize=True)
    @given(histories())
    def agrees(history: tuple[Tree, Tree]) -> None:
        check_against_keys(*history)

    agrees()
