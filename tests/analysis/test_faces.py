"""Per-ecosystem interfaces: test files, test data and docs reach no dependent, on
repositories shaped like vuejs/core (npm) and a uv workspace (Python)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from click.testing import Result
from gitrepo import GitRepo

Cli = Callable[..., Result]
MakeRepo = Callable[[dict[str, str]], GitRepo]


def npm(name: str, deps: dict[str, str] | None = None) -> str:
    doc: dict[str, Any] = {"name": name, "version": "3.5.0", "main": "index.ts"}
    if deps:
        doc["dependencies"] = deps
    return json.dumps(doc, indent=2) + "\n"


# vuejs/core: runtime-core depends on reactivity, compiler-sfc on shared; shared's
# tests import reactivity, reactivity's tests import runtime-core.
VUE = {
    "package.json": json.dumps({"name": "vue-monorepo", "workspaces": ["packages/*"]}),
    "README.md": "# vue\n",
    ".github/workflows/ci.yml": "on: push\n",
    "packages/shared/package.json": npm("@vue/shared"),
    "packages/shared/index.ts": "export const x = 1;\n",
    "packages/shared/__tests__/looseEqual.spec.ts": "import '@vue/reactivity';\n",
    "packages/reactivity/package.json": npm("@vue/reactivity", {"@vue/shared": "*"}),
    "packages/reactivity/index.ts": "import '@vue/shared';\n",
    "packages/reactivity/README.md": "# reactivity\n",
    "packages/reactivity/__tests__/effect.spec.ts": "import '@vue/runtime-core';\n",
    "packages/reactivity/__tests__/utils.ts": "export const helper = 1;\n",
    "packages/runtime-core/package.json": npm("@vue/runtime-core", {"@vue/reactivity": "*"}),
    "packages/runtime-core/index.ts": "import '@vue/reactivity';\n",
    "packages/runtime-core/__tests__/h.spec.ts": "import '../../reactivity/__tests__/utils';\n",
    "packages/compiler-sfc/package.json": npm("@vue/compiler-sfc", {"@vue/shared": "*"}),
    "packages/compiler-sfc/index.ts": "import '@vue/shared';\n",
    "packages/compiler-sfc/build.config.json": "{}\n",
    "packages/compiler-sfc/__fixtures__/sfc.ts": "import '@vue/runtime-core';\n",
}


def affected(cli: Cli, repo: GitRepo) -> dict[str, str]:
    result = cli(repo.root, "affected", "--base", "HEAD", "--format", "json")
    assert result.exit_code == 0, result.output
    reasons: dict[str, str] = json.loads(result.output)["reasons"]
    return reasons


def test_vue_test_file_edit_affects_its_package_only(cli: Cli, make_repo: MakeRepo) -> None:
    repo = make_repo(VUE)
    repo.append("packages/reactivity/__tests__/effect.spec.ts", "// edited\n")
    assert affected(cli, repo) == {
        "//packages/reactivity:reactivity": "packages/reactivity/__tests__/effect.spec.ts "
        "modified (tests only: dependents not affected)"
    }


def test_vue_test_helper_edit_reaches_the_tests_that_import_it(
    cli: Cli, make_repo: MakeRepo
) -> None:
    """runtime-core's tests import a helper from reactivity's tests: file-level imports
    decide, not folders. The imported helper is in reactivity's interface, so what
    reads that interface is affected (shared's tests too); compiler-sfc is not."""
    repo = make_repo(VUE)
    repo.append("packages/reactivity/__tests__/utils.ts", "// edited\n")
    assert sorted(affected(cli, repo)) == [
        "//packages/reactivity:reactivity",
        "//packages/runtime-core:runtime-core",
        "//packages/shared:shared",
    ]


def test_vue_docs_and_root_chrome_reach_no_dependent(cli: Cli, make_repo: MakeRepo) -> None:
    repo = make_repo(VUE)
    repo.append("packages/reactivity/README.md", "more\n")
    repo.append("README.md", "more\n")
    repo.append(".github/workflows/ci.yml", "# edited\n")
    assert sorted(affected(cli, repo)) == [
        "//:root",
        "//packages/reactivity:reactivity",
    ]


def test_a_dirty_package_names_the_file_that_moved_its_interface(
    cli: Cli, make_repo: MakeRepo
) -> None:
    """pnpm/pnpm: a new package makes the root's layout dirty, and its reason named the
    first differing file, a new `.changeset/*.md` note that no dependent sees, where a
    root file in the interface had changed too."""
    repo = make_repo({**VUE, "tsconfig.base.json": "{}\n"})
    repo.write(".changeset/calm-cats-report.md", "---\nnote\n")
    repo.write("tsconfig.base.json", '{"compilerOptions": {}}\n')
    repo.write("packages/new/package.json", npm("@vue/new"))
    assert affected(cli, repo)["//:root"] == (
        "tsconfig.base.json changed (layout of package root changed)"
    )


def test_vue_source_edit_reaches_dependents_and_test_importers(
    cli: Cli, make_repo: MakeRepo
) -> None:
    repo = make_repo(VUE)
    repo.append("packages/shared/index.ts", "// edited\n")
    assert sorted(affected(cli, repo)) == [
        "//packages/compiler-sfc:compiler-sfc",
        "//packages/reactivity:reactivity",
        "//packages/runtime-core:runtime-core",
        "//packages/shared:shared",
    ]


def test_vue_unknown_file_stays_in_the_interface(cli: Cli, make_repo: MakeRepo) -> None:
    """A file graphkit cannot classify may be read by a build script: dependents too."""
    files = {**VUE, "packages/app/package.json": npm("app", {"@vue/compiler-sfc": "*"})}
    files["packages/app/index.ts"] = "import '@vue/compiler-sfc';\n"
    repo = make_repo(files)
    repo.append("packages/compiler-sfc/build.config.json", " \n")
    assert sorted(affected(cli, repo)) == [
        "//packages/app:app",
        "//packages/compiler-sfc:compiler-sfc",
    ]


def test_fixtures_are_test_data_not_imports(cli: Cli, make_repo: MakeRepo) -> None:
    """compiler-sfc's fixture imports runtime-core: no edge, and an edit to it
    affects compiler-sfc alone."""
    repo = make_repo(VUE)
    repo.append("packages/runtime-core/index.ts", "// edited\n")
    assert "//packages/compiler-sfc:compiler-sfc" not in affected(cli, repo)
    repo = make_repo(VUE)
    repo.append("packages/compiler-sfc/__fixtures__/sfc.ts", "// edited\n")
    assert affected(cli, repo) == {
        "//packages/compiler-sfc:compiler-sfc": "packages/compiler-sfc/__fixtures__/sfc.ts "
        "modified (tests only: dependents not affected)"
    }


def pyproject(name: str, deps: list[str]) -> str:
    return f'[project]\nname = "{name}"\nversion = "1.0"\ndependencies = {json.dumps(deps)}\n'


PYTHON = {
    "pyproject.toml": '[tool.uv.workspace]\nmembers = ["libs/*"]\n',
    "libs/core/pyproject.toml": pyproject("core", []),
    "libs/core/src/core/__init__.py": "X = 1\n",
    "libs/core/tests/test_core.py": "import core\n",
    "libs/core/src/core/conftest.py": "\n",
    "libs/core/src/core/util_test.py": "\n",
    "libs/core/CHANGELOG.rst": "1.0\n",
    "libs/api/pyproject.toml": pyproject("api", ["core"]),
    "libs/api/src/api/__init__.py": "import core\n",
}


def test_python_tests_and_changelog_reach_no_dependent(cli: Cli, make_repo: MakeRepo) -> None:
    for path in (
        "libs/core/tests/test_core.py",
        "libs/core/src/core/conftest.py",
        "libs/core/src/core/util_test.py",
        "libs/core/CHANGELOG.rst",
    ):
        repo = make_repo(PYTHON)
        repo.append(path, "# edited\n")
        assert list(affected(cli, repo)) == ["//libs/core:core"], path
    repo = make_repo(PYTHON)
    repo.append("libs/core/src/core/__init__.py", "# edited\n")
    assert sorted(affected(cli, repo)) == ["//libs/api:api", "//libs/core:core"]


def gomod(module: str, *requires: str) -> str:
    body = f"module go.opentelemetry.io/{module}\n\ngo 1.22\n"
    for folder in requires:
        path = "otel" if folder == "" else f"otel/{folder}"
        body += f"\nrequire go.opentelemetry.io/{path} v1.28.0\n"
        body += f"replace go.opentelemetry.io/{path} => ../{folder}\n"
    return body


# opentelemetry-go: every module requires the root module, whose folder holds the
# repository's CHANGELOG.md, README.md and workflows.
OTEL = {
    "go.mod": gomod("otel"),
    "go.sum": "",
    "otel.go": "package otel\n",
    "otel_test.go": "package otel\n",
    "CHANGELOG.md": "# Changelog\n",
    "Makefile": "all:\n",
    ".golangci.yml": "linters: {}\n",
    ".github/workflows/ci.yml": "on: push\n",
    "internal/testdata/x.json": "{}\n",
    "version/banner.txt": "otel\n",
    "version/version.go": 'package version\n\nimport _ "embed"\n\n'
    "//go:embed banner.txt\nvar B string\n",
    "version/cgo.c": "int x;\n",
    "trace/go.mod": gomod("otel/trace", ""),
    "trace/trace.go": "package trace\n",
    "metric/go.mod": gomod("otel/metric", ""),
    "metric/meter.go": "package metric\n",
}


def test_otel_changelog_and_chrome_affect_the_root_module_only(
    cli: Cli, make_repo: MakeRepo
) -> None:
    for path in (
        "CHANGELOG.md",
        "Makefile",
        ".golangci.yml",
        ".github/workflows/ci.yml",
        "otel_test.go",
        "internal/testdata/x.json",
    ):
        repo = make_repo(OTEL)
        repo.append(path, "\n")
        assert affected(cli, repo) == {
            "//:root": f"{path} modified (tests only: dependents not affected)"
        }, path


def test_otel_build_files_reach_every_module(cli: Cli, make_repo: MakeRepo) -> None:
    """Go sources, cgo sources, go.sum and embedded files are what dependents build."""
    for path in ("otel.go", "go.sum", "version/banner.txt", "version/cgo.c"):
        repo = make_repo(OTEL)
        repo.append(path, "\n")
        assert sorted(affected(cli, repo)) == ["//:root", "//metric:metric", "//trace:trace"], path


def test_go_embed_of_a_markdown_file_keeps_it_in_the_interface(
    cli: Cli, make_repo: MakeRepo
) -> None:
    files = dict(OTEL)
    files["version/version.go"] = (
        'package version\n\nimport _ "embed"\n\n//go:embed notes/*.md\nvar B string\n'
    )
    files["version/notes/v1.md"] = "# v1\n"
    repo = make_repo(files)
    repo.append("version/notes/v1.md", "\n")
    assert sorted(affected(cli, repo)) == ["//:root", "//metric:metric", "//trace:trace"]


def cargo(name: str, *deps: str) -> str:
    body = f'[package]\nname = "{name}"\nversion = "0.1.0"\n'
    if deps:
        body += "\n[dependencies]\n" + "".join(f'{d} = {{ path = "../{d}" }}\n' for d in deps)
    return body


# helix: helix-term depends on helix-core; helix-core's lib.rs includes its README.
HELIX = {
    "Cargo.toml": '[workspace]\nmembers = ["helix-*"]\n',
    "helix-core/Cargo.toml": cargo("helix-core"),
    "helix-core/src/lib.rs": '#![doc = include_str!("../README.md")]\npub fn core() {}\n',
    "helix-core/README.md": "# core\n",
    "helix-core/CHANGELOG.md": "# changes\n",
    "helix-core/tests/indent.rs": "#[test]\nfn t() {}\n",
    "helix-core/benches/b.rs": "fn main() {}\n",
    "helix-core/fixtures/x.txt": "x\n",
    "helix-core/queries/rust.scm": "(x)\n",
    "helix-term/Cargo.toml": cargo("helix-term", "helix-core"),
    "helix-term/src/main.rs": "fn main() {}\n",
}


def test_helix_tests_benches_and_chrome_reach_no_dependent(cli: Cli, make_repo: MakeRepo) -> None:
    for path in (
        "helix-core/tests/indent.rs",
        "helix-core/benches/b.rs",
        "helix-core/CHANGELOG.md",
        "helix-core/fixtures/x.txt",
    ):
        repo = make_repo(HELIX)
        repo.append(path, "\n")
        assert list(affected(cli, repo)) == ["//helix-core:helix-core"], path


def test_helix_included_readme_and_unknown_files_reach_dependents(
    cli: Cli, make_repo: MakeRepo
) -> None:
    """lib.rs compiles the README in; a query file might be read by a build script."""
    for path in ("helix-core/README.md", "helix-core/queries/rust.scm"):
        repo = make_repo(HELIX)
        repo.append(path, "\n")
        assert sorted(affected(cli, repo)) == [
            "//helix-core:helix-core",
            "//helix-term:helix-term",
        ], path


def rewrite(repo: GitRepo, path: str, text: str) -> None:
    (repo.root / path).write_text(text)


def test_reindented_and_reordered_manifests_affect_nothing(cli: Cli, make_repo: MakeRepo) -> None:
    files = {**VUE, **HELIX, **PYTHON, "pyproject.toml": PYTHON["pyproject.toml"]}
    files.update({f"go/{path}": text for path, text in OTEL.items() if path.endswith(".go")})
    files["go/go.mod"] = gomod("otel")
    repo = make_repo(files)
    doc = json.loads(VUE["packages/shared/package.json"])
    rewrite(repo, "packages/shared/package.json", json.dumps(dict(reversed(doc.items())), indent=4))
    rewrite(repo, "helix-core/Cargo.toml", "# a comment\n" + HELIX["helix-core/Cargo.toml"])
    rewrite(repo, "libs/core/pyproject.toml", PYTHON["libs/core/pyproject.toml"] + "# note\n")
    rewrite(repo, "go/go.mod", "// the root module\n" + gomod("otel"))
    assert affected(cli, repo) == {}


def test_a_test_script_edit_affects_the_package_not_its_dependents(
    cli: Cli, make_repo: MakeRepo
) -> None:
    repo = make_repo(VUE)
    doc = json.loads(VUE["packages/shared/package.json"])
    rewrite(
        repo, "packages/shared/package.json", json.dumps({**doc, "scripts": {"test": "vitest"}})
    )
    assert affected(cli, repo) == {
        "//packages/shared:shared": "definition changed in packages/shared/package.json "
        "(check scripts only: dependents not affected)"
    }


def test_a_version_bump_or_a_build_script_reaches_dependents(cli: Cli, make_repo: MakeRepo) -> None:
    doc = json.loads(VUE["packages/shared/package.json"])
    for edited in ({**doc, "version": "3.5.1"}, {**doc, "scripts": {"build": "tsc"}}):
        repo = make_repo(VUE)
        rewrite(repo, "packages/shared/package.json", json.dumps(edited))
        assert sorted(affected(cli, repo)) == [
            "//packages/compiler-sfc:compiler-sfc",
            "//packages/reactivity:reactivity",
            "//packages/runtime-core:runtime-core",
            "//packages/shared:shared",
        ]


CONFIGURED = {
    **VUE,
    "graphkit.toml": '[inputs.npm_package]\ninterface_exclude = ["build.config.json"]\n'
    'ignore = ["docs/**"]\n',
    "packages/compiler-sfc/docs/guide.txt": "guide\n",
}


def test_configured_interface_exclude_keeps_a_file_from_dependents(
    cli: Cli, make_repo: MakeRepo
) -> None:
    repo = make_repo(CONFIGURED)
    repo.append("packages/compiler-sfc/build.config.json", " \n")
    assert affected(cli, repo) == {
        "//packages/compiler-sfc:compiler-sfc": "packages/compiler-sfc/build.config.json "
        "modified (tests only: dependents not affected)"
    }


def test_configured_ignore_affects_nothing(cli: Cli, make_repo: MakeRepo) -> None:
    repo = make_repo(CONFIGURED)
    repo.append("packages/compiler-sfc/docs/guide.txt", "more\n")
    assert affected(cli, repo) == {}


def test_changed_inputs_settings_reach_the_targets_of_that_rule(
    cli: Cli, make_repo: MakeRepo
) -> None:
    repo = make_repo(CONFIGURED)
    rewrite(repo, "graphkit.toml", '[inputs.npm_package]\nignore = ["docs/**"]\n')
    assert set(affected(cli, repo).values()) == {"graphkit.toml: [inputs.npm_package] changed"}


def test_inputs_of_an_unknown_rule_is_an_error(cli: Cli, make_repo: MakeRepo) -> None:
    repo = make_repo({**VUE, "graphkit.toml": '[inputs.npm_pakage]\nignore = ["docs/**"]\n'})
    result = cli(repo.root, "affected", "--base", "HEAD")
    assert result.exit_code == 2
    assert "graphkit.toml:1: [inputs.npm_pakage]: no rule 'npm_pakage'" in result.output
    assert "did you mean 'npm_package'?" in result.output


def linked(repo: GitRepo, link: str, target: str) -> None:
    """Commit a symlink at ``link`` whose target text is ``target``."""
    (repo.root / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, repo.root / link)
    repo.commit("symlink")


def keys(cli: Cli, repo: GitRepo, label: str) -> tuple[str, str]:
    result = cli(repo.root, "explain", label, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    return data["key"], data["interface_key"]


def test_a_symlink_in_the_interface_brings_what_it_reaches_into_the_interface(
    cli: Cli, make_repo: MakeRepo
) -> None:
    """packages/shared/common.ts -> ../../common/common.ts: an edit to common/common.ts
    moves shared's interface key, so every dependent of shared is affected."""
    repo = make_repo({**VUE, "common/common.ts": "export const c = 1;\n"})
    linked(repo, "packages/shared/common.ts", "../../common/common.ts")
    before = keys(cli, repo, "//packages/shared")
    repo.append("common/common.ts", "// edited\n")
    after = keys(cli, repo, "//packages/shared")
    assert before[1] != after[1]  # the interface key moved
    reasons = affected(cli, repo)
    through = "common/common.ts modified (through symlink packages/shared/common.ts)"
    assert reasons["//packages/shared:shared"] == through
    assert {
        "//packages/reactivity:reactivity",
        "//packages/runtime-core:runtime-core",
        "//packages/compiler-sfc:compiler-sfc",
    } <= set(reasons)
    assert reasons["//packages/compiler-sfc:compiler-sfc"].startswith(
        f"depends on //packages/shared:shared (interface: {through}"
    )


def test_a_symlink_outside_the_interface_affects_its_package_only(
    cli: Cli, make_repo: MakeRepo
) -> None:
    repo = make_repo({**VUE, "common/common.ts": "export const c = 1;\n"})
    linked(repo, "packages/shared/__tests__/common.ts", "../../../common/common.ts")
    before = keys(cli, repo, "//packages/shared")
    repo.append("common/common.ts", "// edited\n")
    after = keys(cli, repo, "//packages/shared")
    assert before[0] != after[0] and before[1] == after[1]  # the full key only
    reasons = affected(cli, repo)
    assert reasons["//packages/shared:shared"] == (
        "common/common.ts modified (through symlink packages/shared/__tests__/common.ts)"
        " (tests only: dependents not affected)"
    )
    assert "//packages/compiler-sfc:compiler-sfc" not in reasons


def test_configured_ignore_and_interface_exclude_apply_to_symlinks(
    cli: Cli, make_repo: MakeRepo
) -> None:
    """A symlink graphkit.toml ignores brings in nothing; one it keeps out of the
    interface brings what it reaches into the full key only."""
    repo = make_repo({**CONFIGURED, "common/common.ts": "export const c = 1;\n"})
    linked(repo, "packages/compiler-sfc/docs/common.ts", "../../../common/common.ts")
    before = keys(cli, repo, "//packages/compiler-sfc")
    repo.append("common/common.ts", "// edited\n")
    assert keys(cli, repo, "//packages/compiler-sfc") == before
    assert "//packages/compiler-sfc:compiler-sfc" not in affected(cli, repo)
    repo.commit("edit")
    repo.delete("packages/compiler-sfc/build.config.json")
    linked(repo, "packages/compiler-sfc/build.config.json", "../../common/common.ts")
    before = keys(cli, repo, "//packages/compiler-sfc")
    repo.append("common/common.ts", "// again\n")
    after = keys(cli, repo, "//packages/compiler-sfc")
    assert before[0] != after[0] and before[1] == after[1]
    assert affected(cli, repo)["//packages/compiler-sfc:compiler-sfc"] == (
        "common/common.ts modified (through symlink packages/compiler-sfc/build.config.json)"
        " (tests only: dependents not affected)"
    )
