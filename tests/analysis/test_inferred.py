"""Deps that imports add: in the graph, the keys, the walk and the queries, and
kept up to date incrementally from one revision to the next."""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable

import pygit2
import pytest
from click.testing import Result
from gitrepo import GitRepo

from graphkit.analysis.graph import BuildGraph, Reader, components, load_graph
from graphkit.analysis.inferred import (
    _PICKLED_TOGETHER,
    ImportScan,
    infer_graph,
    scan,
    target_deps,
)
from graphkit.analysis.keys import compute_keys, diff_inputs
from graphkit.analysis.session import Session
from graphkit.labels import Label
from graphkit.model import FileEntry, ImportVia
from graphkit.repo.workspace import Workspace

Cli = Callable[..., Result]
RELEASE = Label("tools/release", "release")
CORE = Label("libs/core", "core")
EXTRA = "tools/release/src/release/extra.py"


def build(name: str, deps: tuple[str, ...] = ()) -> str:
    listed = ", ".join(f'"{d}"' for d in deps)
    return f'[[target]]\nname = "{name}"\nrule = "python_library"\ndeps = [{listed}]\n'


def snapshot(files: dict[str, str]) -> dict[str, FileEntry]:
    return {p: FileEntry(0o100644, str(pygit2.hash(d.encode()))) for p, d in files.items()}


def graph_with_imports(files: dict[str, str]) -> tuple[BuildGraph, dict[str, FileEntry]]:
    def read(path: str, _entry: FileEntry) -> bytes:
        return files[path].encode()

    snap = snapshot(files)
    return infer_graph(load_graph(snap, read), snap, read), snap


TWO = {
    "a/BUILD.toml": build("a"),
    "a/x.py": "import m\n",
    "b/BUILD.toml": build("b"),
    "b/m.py": "M = 1\n",
}


def test_an_undeclared_import_becomes_a_dep_with_the_import_as_evidence() -> None:
    graph, _ = graph_with_imports(TWO)
    a, b = Label("a", "a"), Label("b", "b")
    assert graph.inferred == {a: {b: ImportVia("a/x.py", 1, "b/m.py")}}
    assert graph.deps(a) == [b] and graph.rdeps(b) == [a]
    assert str(graph.via_import(a, b)) == "a/x.py:1 imports b/m.py"


def test_declared_and_external_imports_add_nothing() -> None:
    declared = {**TWO, "a/BUILD.toml": build("a", ("//b",)), "a/y.py": "import requests\n"}
    graph, _ = graph_with_imports(declared)
    assert graph.inferred == {}


def test_an_ambiguous_import_depends_on_every_candidate() -> None:
    files = {**TWO, "c/BUILD.toml": build("c"), "c/m.py": "M = 2\n"}
    graph, _ = graph_with_imports(files)
    deps = graph.inferred[Label("a", "a")]
    assert sorted(deps) == [Label("b", "b"), Label("c", "c")]
    assert all(via.ambiguous for via in deps.values())
    assert str(deps[Label("b", "b")]) == "a/x.py:1 may import b/m.py"


def test_an_edit_to_an_imported_target_changes_the_importer_key() -> None:
    graph, snap = graph_with_imports(TWO)
    edited = {**TWO, "b/m.py": "M = 2\n"}
    graph2, snap2 = graph_with_imports(edited)
    before, after = compute_keys(graph, snap), compute_keys(graph2, snap2)
    assert before[Label("a", "a")].key != after[Label("a", "a")].key


def test_an_import_cycle_shares_every_members_inputs() -> None:
    files = {**TWO, "b/m.py": "import x\n"}  # b imports a back
    graph, snap = graph_with_imports(files)
    a, b = Label("a", "a"), Label("b", "b")
    assert (a, b) in list(components(graph))
    keys = compute_keys(graph, snap)
    for edited in ({**files, "a/x.py": "import m\nX = 1\n"}, {**files, "b/m.py": "import x\n#\n"}):
        graph2, snap2 = graph_with_imports(edited)
        after = compute_keys(graph2, snap2)
        assert keys[a].key != after[a].key and keys[b].key != after[b].key
        changed = {d.input for label in (a, b) for d in diff_inputs(keys[label], after[label])}
        assert any(i.startswith("cycle member ") for i in changed)


def test_a_scan_reuses_unchanged_files_and_re_resolves_when_files_appear() -> None:
    def read_from(files: dict[str, str]) -> Reader:
        return lambda path, _entry: files[path].encode()

    graph, snap = graph_with_imports(TWO)
    inputs = graph.inputs(snap)
    first = scan(graph, snap, read_from(TWO), inputs)
    # A reused file is never read again: reading it would raise KeyError.
    unreadable: dict[str, str] = {}
    again = scan(graph, snap, read_from(unreadable), inputs, first)
    assert again.files["a/x.py"] is first.files["a/x.py"]

    grown = {**TWO, "a/m.py": "M = 0\n"}  # `import m` now finds a/m.py too: ambiguous
    graph2, snap2 = graph_with_imports(grown)
    inputs2 = graph2.inputs(snap2)
    only_new = {"a/m.py": grown["a/m.py"]}
    rescanned = scan(graph2, snap2, read_from(only_new), inputs2, first)
    assert [p.kind for p in rescanned.files["a/x.py"].resolved.problems] == ["ambiguous"]
    assert target_deps(graph2, inputs2, rescanned) == graph2.inferred


def test_affected_follows_an_undeclared_import(monorepo: GitRepo, cli: Cli) -> None:
    monorepo.write(EXTRA, "from core.models import Item\n")
    monorepo.commit("release imports core without declaring it")
    monorepo.append("libs/core/src/core/models.py", "\n# edited\n")
    result = cli(monorepo.root, "affected", "--format", "json")
    assert result.exit_code == 0, result.output
    reasons = json.loads(result.output)["reasons"]
    assert reasons[str(RELEASE)] == (
        f"depends on {CORE} (interface: libs/core/src/core/models.py modified; "
        f"{EXTRA}:1 imports libs/core/src/core/__init__.py)"
    )
    deps = json.loads(cli(monorepo.root, "query", "deps", str(RELEASE), "--format", "json").output)
    assert str(CORE) in deps["deps"]


def test_a_new_import_in_the_worktree_is_seen_without_a_commit(monorepo: GitRepo, cli: Cli) -> None:
    def release_deps() -> list[str]:
        out = cli(monorepo.root, "query", "deps", str(RELEASE), "--format", "json").output
        return list(json.loads(out)["deps"])

    assert str(CORE) not in release_deps()  # memoizes HEAD's scan
    monorepo.write(EXTRA, "from core.models import Item\n")
    assert str(CORE) in release_deps()  # the edited worktree, scanned from HEAD's
    monorepo.delete(EXTRA)
    assert str(CORE) not in release_deps()


def test_memoized_and_fresh_sessions_agree(monorepo: GitRepo) -> None:
    monorepo.write(EXTRA, "from core.models import Item\n")
    monorepo.commit("release imports core")
    found = []
    for use_memo in (True, True, False):
        with Session.open(monorepo.root, use_memo=use_memo) as session:
            found.append(session.load("HEAD").graph.inferred)
    assert found[0] == found[1] == found[2]
    assert CORE in found[0][RELEASE]


def test_a_new_commit_is_scanned_from_the_last_stored_scan(
    monorepo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session.open(monorepo.root) as session:
        session.load("HEAD")  # scanned in full and stored
    monorepo.write(EXTRA, "from core.models import Item\n")
    monorepo.commit("release imports core")
    read: list[str] = []
    original = Workspace.read

    def counting(self: Workspace, path: str, entry: FileEntry) -> bytes:
        read.append(path)
        return original(self, path, entry)

    monkeypatch.setattr(Workspace, "read", counting)
    with Session.open(monorepo.root) as session:
        assert CORE in session.load("HEAD").graph.inferred[RELEASE]
    sources = [p for p in read if p.endswith((".py", ".js", ".ts"))]
    assert sources == [EXTRA]  # every other source kept its imports from the stored scan


def test_explain_shows_an_import_cycle(
    make_repo: Callable[[dict[str, str]], GitRepo], cli: Cli
) -> None:
    repo = make_repo({**TWO, "b/m.py": "import x\n"})
    data = json.loads(cli(repo.root, "explain", "//a", "--format", "json").output)
    assert list(data["import_cycle"]) == ["//b:b"] and data["deps"] == {}
    assert "cycle, members' own interface inputs (1):" in cli(repo.root, "explain", "//a").output


# helix-editor/helix: a virtual workspace root, and helix-loader compiles in the
# repository's languages.toml, which no crate owns; helix-view a file of another crate.
HELIX = {
    "Cargo.toml": '[workspace]\nmembers = ["helix-loader", "helix-term", "helix-view", "book"]\n',
    "languages.toml": '[[language]]\nname = "rust"\n',
    "README.md": "# helix\n",
    "helix-loader/Cargo.toml": '[package]\nname = "helix-loader"\nversion = "0.1.0"\n',
    "helix-loader/src/lib.rs": (
        'pub fn languages() -> &\'static [u8] { include_bytes!("../../languages.toml") }\n'
    ),
    "helix-term/Cargo.toml": (
        '[package]\nname = "helix-term"\nversion = "0.1.0"\n\n'
        '[dependencies]\nhelix-loader = { path = "../helix-loader" }\n'
    ),
    "helix-term/src/main.rs": "fn main() {}\n",
    "helix-view/Cargo.toml": '[package]\nname = "helix-view"\nversion = "0.1.0"\n',
    "helix-view/src/theme.rs": 'const THEME: &str = include_str!("../../book/theme.toml");\n',
    "book/Cargo.toml": '[package]\nname = "book"\nversion = "0.1.0"\n',
    "book/theme.toml": "[ui]\n",
}


def rust_affected(cli: Cli, repo: GitRepo) -> dict[str, object]:
    repo.commit("edit")
    result = cli(repo.root, "affected", "--base", "HEAD~1", "--head", "HEAD", "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.output)
    return data


def test_an_included_file_outside_every_crate_is_an_input_of_the_includer(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo]
) -> None:
    repo = make_repo(HELIX)
    repo.append("languages.toml", '[[language]]\nname = "toml"\n')
    data = rust_affected(cli, repo)
    assert data["affected"] == ["//helix-loader:helix-loader", "//helix-term:helix-term"]
    assert data["unowned"] == []
    explained = cli(repo.root, "explain", "//helix-loader", "--format", "json").output
    assert "languages.toml" in explained


def test_a_file_outside_every_crate_that_nothing_includes_stays_unowned(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo]
) -> None:
    repo = make_repo(HELIX)
    repo.append("README.md", "more\n")
    data = rust_affected(cli, repo)
    assert data["affected"] == []
    assert data["unowned"] == ["README.md"]


def test_an_include_of_another_crates_file_depends_on_that_crate(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo]
) -> None:
    repo = make_repo(HELIX)
    repo.append("book/theme.toml", "bg = 1\n")
    data = rust_affected(cli, repo)
    assert data["affected"] == ["//book:book", "//helix-view:helix-view"]
    reasons = data["reasons"]
    assert isinstance(reasons, dict)
    assert reasons["//helix-view:helix-view"] == (
        "depends on //book:book (interface: book/theme.toml modified; "
        "helix-view/src/theme.rs:1 imports book/theme.toml)"
    )


def test_committed_node_modules_and_excluded_folders_are_never_scanned() -> None:
    # npm/cli commits its bundled dependencies under node_modules/.
    files = {
        "package.json": '{"name": "npm", "workspaces": ["workspaces/*"]}',
        "lib/cli.js": 'require("@npmcli/arborist")\n',
        "node_modules/abbrev/index.js": 'require("@npmcli/arborist")\n',
        "docs/example.js": 'require("@npmcli/arborist")\n',
        "workspaces/arborist/package.json": '{"name": "@npmcli/arborist"}',
        "workspaces/arborist/index.js": "module.exports = 1\n",
    }
    files["graphkit.toml"] = '[workspace]\nexclude = ["docs"]\n'
    snap = snapshot(files)
    graph = load_graph(snap, lambda path, _e: files[path].encode())
    found = scan(graph, snap, lambda path, _e: files[path].encode(), graph.inputs(snap))
    assert sorted(found.files) == ["lib/cli.js", "workspaces/arborist/index.js"]


def test_a_committed_node_modules_is_no_package_and_no_scanned_source(
    make_repo: Callable[[dict[str, str]], GitRepo],
) -> None:
    # npm/cli commits the dependencies it bundles, manifests and all.
    repo = make_repo(
        {
            "package.json": '{"name": "npm", "workspaces": ["workspaces/*"]}',
            "lib/cli.js": 'require("abbrev")\n',
            "node_modules/abbrev/package.json": '{"name": "abbrev"}',
            "node_modules/abbrev/index.js": 'require("./lib/x")\nrequire("@npmcli/arborist")\n',
            "node_modules/abbrev/lib/x.js": "module.exports = 1\n",
            "workspaces/arborist/package.json": '{"name": "@npmcli/arborist"}',
            "workspaces/arborist/index.js": "module.exports = 1\n",
        }
    )
    with Session.open(repo.root) as session:
        head = session.load("HEAD")
        scanned = session.import_scan(head)
    labels = sorted(str(label) for label in head.graph.targets)
    assert labels == ["//:root", "//workspaces/arborist:arborist"]
    assert sorted(scanned.files) == ["lib/cli.js", "workspaces/arborist/index.js"]
    assert head.graph.inferred == {}  # abbrev's require of arborist is not npm's


def _mixed_repo(packages: int) -> dict[str, str]:
    """Python and JS packages importing each other: resolved, ambiguous, unresolved,
    dynamic and unparseable imports, and a tsconfig read in part."""
    files = {"tsconfig.json": '{"extends": "./missing.json"}'}
    for n in range(packages):
        dep = (n + 1) % packages
        files[f"py{n}/BUILD.toml"] = build(f"py{n}")
        files[f"py{n}/m{n}.py"] = f"import m{dep}\nimport nowhere{n}\nfrom . import ({n}\n"[
            : None if n % 5 else -4
        ]
        files[f"py{n}/dup.py"] = "import dup\n"  # every package has one: ambiguous
        files[f"js{n}/package.json"] = f'{{"name": "@x/js{n}", "main": "index.js"}}'
        files[f"js{n}/index.js"] = (
            f'import a from "@x/js{dep}";\nconst b = require(`./t${{n}}`);\n'
            'export * from "./c";\nimport "./gone";\n'
        )
        files[f"js{n}/c.ts"] = "export const c = `open" if n % 7 == 0 else "export const c = 1;\n"
    files["package.json"] = '{"name": "root", "workspaces": ["js*"]}'
    return files


def test_a_scan_is_the_same_with_one_worker_or_two() -> None:
    files = _mixed_repo(30)
    snap = snapshot(files)

    def read(path: str, _entry: FileEntry) -> bytes:
        return files[path].encode()

    graph = load_graph(snap, read)
    inputs = graph.inputs(snap)
    scans: list[ImportScan] = [scan(graph, snap, read, inputs, workers=n) for n in (1, 2, 3)]
    one = scans[0]
    assert {scanned.language for scanned in one.files.values()} == {"python", "js"}
    kinds = {p.kind for p in one.problems}
    assert kinds == {"ambiguous", "unresolved", "dynamic", "unparseable"}
    assert one.warnings
    for other in scans[1:]:
        assert list(other.files.items()) == list(one.files.items())  # the order too
        assert (other.context, other.warnings) == (one.context, one.warnings)
    assert target_deps(graph, inputs, scans[1]) == target_deps(graph, inputs, one)


def test_a_scan_pickled_in_chunks_reads_back_the_same_in_order() -> None:
    files = _mixed_repo(30)
    snap = snapshot(files)
    graph = load_graph(snap, lambda path, _entry: files[path].encode())
    one = scan(graph, snap, lambda path, _entry: files[path].encode(), graph.inputs(snap))
    many = ImportScan(  # more files than one chunk holds
        {f"{n}/{path}": scanned for n in range(80) for path, scanned in one.files.items()},
        one.context,
        one.warnings,
    )
    assert len(many.files) > 2 * _PICKLED_TOGETHER
    back = pickle.loads(pickle.dumps(many, protocol=5))
    assert list(back.files.items()) == list(many.files.items())
    assert (back.context, back.warnings, back.resolvers) == (one.context, one.warnings, {})


def test_a_scan_chunk_naming_anything_but_scanned_files_is_refused() -> None:
    forged = {"a.py": FileEntry(0o100644, "0" * 40)}  # graphkit's, but no class a scan holds
    state = {"chunks": [pickle.dumps(forged)], "context": "", "warnings": ()}
    scan_object = ImportScan.__new__(ImportScan)
    with pytest.raises(pickle.UnpicklingError, match="a scan names"):
        scan_object.__setstate__(state)


def test_affected_is_the_same_with_one_scan_worker_or_two(
    make_repo: Callable[[dict[str, str]], GitRepo],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = _mixed_repo(12)
    repo = make_repo(files)
    repo.append("py3/m3.py", "import m7\n")
    repo.write("js5/index.js", 'import x from "@x/js9";\n')
    repo.commit("two edits")
    answers = []
    for workers in ("1", "2"):
        monkeypatch.setenv("GRAPHKIT_SCAN_WORKERS", workers)
        shutil.rmtree(repo.root / ".git" / "graphkit", ignore_errors=True)  # cold: scan all
        args = ("affected", "--base", "HEAD~1", "--head", "HEAD", "--format", "json")
        result = cli(repo.root, *args)
        assert result.exit_code == 0, result.output
        answers.append(json.loads(result.stdout))
    assert answers[0] == answers[1]
    assert "//py2:py2" in answers[0]["affected"]  # through py2's import of m3


def test_a_scan_worker_count_that_is_not_a_number_is_an_input_error(
    monorepo: GitRepo, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPHKIT_SCAN_WORKERS", "two")
    result = cli(monorepo.root, "affected", "--format", "json")
    assert result.exit_code == 2
    assert "GRAPHKIT_SCAN_WORKERS='two': expected a whole number of processes" in result.output


def test_an_unreadable_tsconfig_extends_is_a_session_warning(
    make_repo: Callable[..., GitRepo],
) -> None:
    # trpc/trpc: examples/nuxt/tsconfig.json extends ./.nuxt/tsconfig.json, generated.
    repo = make_repo(
        {
            "examples/nuxt/package.json": '{"name": "nuxt-example"}',
            "examples/nuxt/tsconfig.json": '{"extends": "./.nuxt/tsconfig.json"}',
            "examples/nuxt/app.ts": 'import { ref } from "vue";\n',
        }
    )
    expected = [
        "examples/nuxt/tsconfig.json: extends './.nuxt/tsconfig.json': "
        "examples/nuxt/.nuxt/tsconfig.json is not in the repository (generated?); "
        "imports it could map are treated as unresolved"
    ]
    for _ in range(2):  # cold, then from the memo: the warning stays
        with Session(Workspace.open(repo.root)) as session:
            session.load("HEAD")
            assert [str(w) for w in session.warnings] == expected
