"""Dependency drift: imports into targets that are not deps, found and written back."""

from __future__ import annotations

import json
from collections.abc import Callable

import pygit2
from click.testing import Result
from gitrepo import GitRepo

from graphkit.analysis.graph import BuildGraph, load_graph
from graphkit.analysis.tidy import Drift, add_deps, hand_edits
from graphkit.labels import Label
from graphkit.model import FileEntry

Cli = Callable[..., Result]

BUILD = """# Release tooling.

[[target]]
name = "release"   # the library
rule = "python_library"
deps = [
  "//libs/util",  # strings
]

[[target]]
name = "test"
rule = "python_test"
"""


def test_add_deps_rewrites_only_the_deps_line_of_the_named_target() -> None:
    new = add_deps(BUILD, "tools/release/BUILD.toml", {"release": ["//libs/core:core"]})
    assert new == BUILD.replace(
        'deps = [\n  "//libs/util",  # strings\n]\n',
        'deps = [\n    "//libs/core:core",\n    "//libs/util",\n]\n',
    )


def test_add_deps_inserts_after_the_name_when_there_are_none() -> None:
    new = add_deps(BUILD, "x/BUILD.toml", {"test": [":release"]})
    assert new.endswith('name = "test"\ndeps = [\n    ":release",\n]\nrule = "python_test"\n')
    assert new.startswith(BUILD.split('name = "test"')[0])


def test_tidy_check_reports_then_tidy_writes_and_is_clean(cli: Cli, monorepo: GitRepo) -> None:
    assert cli(monorepo.root, "tidy", "--check").exit_code == 0
    monorepo.write("tools/release/src/release/extra.py", "from core.models import Item\n")
    check = cli(monorepo.root, "tidy", "--check", "--format", "json")
    assert check.exit_code == 1
    report = json.loads(check.stdout)
    assert list(report["missing"]) == ["//tools/release:release"]
    assert list(report["missing"]["//tools/release:release"]) == ["//libs/core:core"]
    before = monorepo.read("tools/release/BUILD.toml")
    assert monorepo.read("tools/release/BUILD.toml") == before  # --check wrote nothing
    assert cli(monorepo.root, "tidy").exit_code == 0
    after = monorepo.read("tools/release/BUILD.toml")
    assert '"//libs/core:core"' in after
    assert after.startswith("# Release tooling: version bumps and tag names.")
    assert cli(monorepo.root, "tidy", "--check").exit_code == 0
    # The edit is a real dependency now: changing core affects release.
    monorepo.commit()
    monorepo.append("libs/core/src/core/models.py", "\n# x\n")
    result = cli(monorepo.root, "affected", "--base", "HEAD", "--format", "json")
    assert "//tools/release:release" in json.loads(result.output)["affected"]


def test_import_that_would_close_a_cycle_is_noted_never_suggested(
    cli: Cli, monorepo: GitRepo
) -> None:
    # @acme/app depends on @acme/ui: ui importing app is a cycle, not a missing dep.
    monorepo.write("js/ui/src/extra.js", 'const main = require("../../app/src/main.js");\n')
    check = cli(monorepo.root, "tidy", "--check", "--format", "json")
    assert check.exit_code == 0
    report = json.loads(check.stdout)
    assert report["missing"] == {}
    assert report["by_hand"] == []
    assert report["cycles"] == {
        "//js/ui:ui": {"//js/app:app": "js/ui/src/extra.js:1 imports js/app/src/main.js"}
    }
    text = cli(monorepo.root, "tidy").output
    assert "needs" not in text
    assert text == (
        "note: //js/ui:ui imports //js/app:app (js/ui/src/extra.js:1 imports "
        "js/app/src/main.js), which depends on //js/ui:ui: not suggested, it would close a cycle\n"
    )


def test_js_import_outside_declared_deps_is_reported_with_the_line_to_add(
    cli: Cli, monorepo: GitRepo
) -> None:
    monorepo.write("js/package.json", '{"private": true, "workspaces": ["ui", "app", "tools"]}\n')
    monorepo.write("js/tools/package.json", '{"name": "@acme/tools", "version": "1.0.0"}\n')
    monorepo.write("js/tools/src/index.js", "module.exports = 1;\n")
    monorepo.write("js/app/src/extra.js", 'const t = require("../../tools/src/index.js");\n')
    check = cli(monorepo.root, "tidy", "--check", "--format", "json")
    assert check.exit_code == 1
    report = json.loads(check.stdout)
    assert report["missing"] == {
        "//js/app:app": {"//js/tools:tools": "js/app/src/extra.js:1 imports js/tools/src/index.js"}
    }
    assert report["edits"] == {}  # package.json is the npm member's manifest: never rewritten
    assert report["by_hand"] == [
        {
            "target": "//js/app:app",
            "dep": "//js/tools:tools",
            "manifest": "js/app/package.json",
            "add": 'add "@acme/tools": "*" to "dependencies"',
        }
    ]
    before = monorepo.read("js/app/package.json")
    result = cli(monorepo.root, "tidy")
    assert result.exit_code == 1  # it printed a need it did not write
    assert monorepo.read("js/app/package.json") == before
    assert result.output == (
        "//js/app:app needs //js/tools:tools "
        "(js/app/src/extra.js:1 imports js/tools/src/index.js)\n"
        'js/app/package.json: by hand: add "@acme/tools": "*" to "dependencies" '
        "(for //js/tools:tools; graphkit writes only BUILD.toml)\n"
        "graphkit: error: 1 dep(s) to add by hand to ecosystem manifests (listed above)\n"
    )


def graph_of(files: dict[str, str]) -> BuildGraph:
    entries = {p: FileEntry(0o100644, str(pygit2.hash(t.encode()))) for p, t in files.items()}
    return load_graph(entries, lambda path, _entry: files[path].encode())


def test_hand_edits_name_the_exact_line_for_each_ecosystem() -> None:
    files = {
        "Cargo.toml": '[workspace]\nmembers = ["crates/*"]\n',
        "crates/app/Cargo.toml": '[package]\nname = "app"\nversion = "0.1.0"\n',
        "crates/geo/Cargo.toml": '[package]\nname = "geo"\nversion = "0.1.0"\n',
        "pyproject.toml": '[tool.uv.workspace]\nmembers = ["py/*"]\n',
        "py/api/pyproject.toml": '[project]\nname = "acme-api"\nversion = "1"\n',
        "py/models/pyproject.toml": '[project]\nname = "acme-models"\nversion = "1"\n',
        "uv.lock": "version = 1\n",
        "pnpm-workspace.yaml": "packages: ['js/*']\n",
        "js/web/package.json": '{"name": "@acme/web"}',
        "js/ui/package.json": '{"name": "@acme/ui"}',
    }
    graph = graph_of(files)
    needs = {
        ("//crates/app", "//crates/geo"),
        ("//py/api", "//py/models"),
        ("//js/web", "//js/ui"),
        ("//js/web", "//py/models"),
    }
    missing: dict[Label, dict[Label, str]] = {}
    for owner, dep in sorted(needs):
        missing.setdefault(graph.resolve(owner), {})[graph.resolve(dep)] = "x:1 imports y"
    found = {(h.manifest, h.add) for h in hand_edits(graph, Drift(missing, ()), files)}
    assert found == {
        ("crates/app/Cargo.toml", 'add geo = { path = "../geo" } to [dependencies]'),
        (
            "py/api/pyproject.toml",
            'add "acme-models" to [project] dependencies and '
            "acme-models = { workspace = true } to [tool.uv.sources]",
        ),
        ("js/web/package.json", 'add "@acme/ui": "workspace:*" to "dependencies"'),
        (
            "js/web/package.json",
            "no package.json line can name //py/models:models "
            "(declared in py/models/pyproject.toml)",
        ),
    }
