"""Root configuration reaches the members it changes: end to end, on repositories shaped
like helix-editor/helix, open-telemetry/opentelemetry-go, t3-oss/create-t3-turbo and
pydantic/pydantic-ai."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result
from gitrepo import GitRepo

from graphkit.readers.manifests.rootconfig import describe, matches

Cli = Callable[..., Result]
MakeRepo = Callable[[dict[str, str]], GitRepo]


def affected(cli: Cli, repo: GitRepo) -> dict[str, Any]:
    repo.commit("edit")
    result = cli(repo.root, "affected", "--base", "HEAD~1", "--head", "HEAD", "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


# --- Cargo: helix-editor/helix -------------------------------------------------------

HELIX_ROOT = """\
[workspace]
resolver = "2"
members = ["helix-core", "helix-loader", "helix-term"]
default-members = ["helix-term"]

[workspace.package]
version = "25.7.1"
edition = "2021"

[workspace.dependencies]
tree-house = { version = "0.3.0", default-features = false }
tokio = { version = "1.47", features = ["rt"] }

[workspace.lints.rust]
unsafe_op_in_unsafe_fn = "warn"

[workspace.metadata.release]
tag = false

[profile.release]
lto = "thin"

[patch.crates-io]
"""
HELIX = {
    "Cargo.toml": HELIX_ROOT,
    "helix-core/Cargo.toml": (
        '[package]\nname = "helix-core"\nversion.workspace = true\nedition.workspace = true\n\n'
        "[lints]\nworkspace = true\n\n"
        "[dependencies]\ntree-house.workspace = true\n"
    ),
    "helix-core/src/lib.rs": "pub fn core() {}\n",
    "helix-loader/Cargo.toml": (
        '[package]\nname = "helix-loader"\nversion = "0.1.0"\nedition.workspace = true\n'
    ),
    "helix-loader/src/lib.rs": "pub fn load() {}\n",
    "helix-term/Cargo.toml": (
        '[package]\nname = "helix-term"\nversion.workspace = true\nedition.workspace = true\n\n'
        '[dependencies]\nhelix-core = { path = "../helix-core" }\ntokio.workspace = true\n'
    ),
    "helix-term/src/main.rs": "fn main() {}\n",
    "rust-toolchain.toml": '[toolchain]\nchannel = "1.82.0"\n',
    ".cargo/config.toml": '[alias]\nxtask = "run --package xtask --"\n',
}
CRATES = ["//helix-core:helix-core", "//helix-loader:helix-loader", "//helix-term:helix-term"]


@pytest.mark.parametrize(
    ("edit", "expected", "reason"),
    [
        pytest.param(
            ('version = "25.7.1"', 'version = "25.10.0"'),
            ["//helix-core:helix-core", "//helix-term:helix-term"],
            "root configuration: Cargo.toml [workspace.package] version changed",
            id="workspace.package reaches the crates that inherit the field",
        ),
        pytest.param(
            ('edition = "2021"', 'edition = "2024"'),
            CRATES,
            "root configuration: Cargo.toml [workspace.package] edition changed",
            id="every crate inherits the edition",
        ),
        pytest.param(
            ('features = ["rt"]', 'features = ["rt", "macros"]'),
            ["//helix-term:helix-term"],
            "root configuration: Cargo.toml [workspace.dependencies] tokio changed",
            id="workspace.dependencies reaches the crates that use the entry",
        ),
        pytest.param(
            ('"warn"', '"deny"'),
            ["//helix-core:helix-core", "//helix-term:helix-term"],
            "root configuration: Cargo.toml [workspace.lints] changed",
            id="workspace.lints reaches the crates that inherit lints",
        ),
        pytest.param(
            ('lto = "thin"', 'lto = "fat"'),
            CRATES,
            "root configuration: Cargo.toml [profile] (every crate) changed",
            id="profile reaches every crate",
        ),
        pytest.param(
            ("[patch.crates-io]\n", '[patch.crates-io]\nropey = { git = "https://x/ropey" }\n'),
            CRATES,
            "root configuration: Cargo.toml [patch] (every crate) changed",
            id="patch reaches every crate",
        ),
        pytest.param(
            ("tag = false", "tag = true"),
            CRATES,
            "root configuration: Cargo.toml [workspace] default-members, metadata, resolver "
            "(every crate) changed",
            id="workspace.metadata reaches every crate",
        ),
        pytest.param(
            ("[workspace]\n", "# a comment\n[workspace]\n"),
            [],
            None,
            id="a comment reaches nothing",
        ),
    ],
)
def test_cargo_root_manifest_reaches_what_it_configures(
    cli: Cli,
    make_repo: MakeRepo,
    edit: tuple[str, str],
    expected: list[str],
    reason: str | None,
) -> None:
    repo = make_repo(HELIX)
    repo.write("Cargo.toml", HELIX_ROOT.replace(*edit))
    data = affected(cli, repo)
    # helix-term depends on helix-core, so what reaches core reaches term too.
    dependents = {"//helix-core:helix-core": "//helix-term:helix-term"}
    assert data["affected"] == sorted({*expected, *(dependents.get(x, x) for x in expected)})
    if reason is not None:
        assert data["reasons"][expected[0]] == reason


def test_a_cargo_workspace_below_the_root_is_inherited_from_as_cargo_does(
    cli: Cli, make_repo: MakeRepo
) -> None:
    """dagger/dagger: the Rust SDK is a workspace in sdk/rust, beside a Go module at the
    root. Its crates' `workspace = true` entries were looked up in the repository
    root's [workspace.dependencies], which does not exist: exit 2 on every run."""
    root = (
        '[workspace]\nmembers = ["crates/*"]\n\n[workspace.package]\nversion = "0.1.0"\n\n'
        '[workspace.dependencies]\ndagger-codegen = { path = "crates/dagger-codegen" }\n'
    )
    repo = make_repo(
        {
            "go.mod": "module dagger.io/dagger\n\ngo 1.22\n",
            "sdk/rust/Cargo.toml": root,
            "sdk/rust/crates/dagger-codegen/Cargo.toml": (
                '[package]\nname = "dagger-codegen"\nversion = "0.1.0"\n'
            ),
            "sdk/rust/crates/dagger-codegen/src/lib.rs": "pub fn gen() {}\n",
            "sdk/rust/crates/dagger-bootstrap/Cargo.toml": (
                '[package]\nname = "dagger-bootstrap"\nversion.workspace = true\n\n'
                "[dependencies]\ndagger-codegen = { workspace = true }\n"
            ),
            "sdk/rust/crates/dagger-bootstrap/src/main.rs": "fn main() {}\n",
        }
    )
    repo.append("sdk/rust/crates/dagger-codegen/src/lib.rs", "// edited\n")
    data = affected(cli, repo)
    assert data["affected"] == [
        "//sdk/rust/crates/dagger-bootstrap:dagger-bootstrap",
        "//sdk/rust/crates/dagger-codegen:dagger-codegen",
    ]
    # The version the bootstrap crate inherits reaches it; the root module is the
    # package that holds sdk/rust/Cargo.toml.
    repo.write("sdk/rust/Cargo.toml", root.replace('"0.1.0"', '"0.2.0"'))
    data = affected(cli, repo)
    assert "//sdk/rust/crates/dagger-bootstrap:dagger-bootstrap" in data["affected"]
    assert data["reasons"]["//sdk/rust/crates/dagger-bootstrap:dagger-bootstrap"] == (
        "root configuration: sdk/rust/Cargo.toml [workspace.package] version changed"
    )
    assert "//sdk/rust/crates/dagger-codegen:dagger-codegen" not in data["affected"]


@pytest.mark.parametrize("path", ["rust-toolchain.toml", ".cargo/config.toml"])
def test_cargo_toolchain_and_config_files_reach_every_crate(
    cli: Cli, make_repo: MakeRepo, path: str
) -> None:
    repo = make_repo(HELIX)
    repo.append(path, "# edited\n")
    data = affected(cli, repo)
    assert data["affected"] == CRATES
    assert data["reasons"]["//helix-loader:helix-loader"] == (
        f"root configuration: {path} (every crate) changed"
    )


def test_a_config_file_in_a_folder_reaches_the_crates_below_it(
    cli: Cli, make_repo: MakeRepo
) -> None:
    repo = make_repo({**HELIX, "helix-term/rust-toolchain": "1.80.0\n"})
    repo.write("helix-term/rust-toolchain", "1.81.0\n")
    assert affected(cli, repo)["affected"] == ["//helix-term:helix-term"]


# --- Go: open-telemetry/opentelemetry-go ----------------------------------------------

OTEL = {
    "go.work": "go 1.23.0\n\ntoolchain go1.24.1\n\nuse (\n\t.\n\t./metric\n\t./trace\n)\n",
    "go.work.sum": "golang.org/x/text v0.3.0 h1:abc=\n",
    "go.mod": "module go.opentelemetry.io/otel\n\ngo 1.23.0\n",
    "otel.go": "package otel\n",
    "metric/go.mod": (
        "module go.opentelemetry.io/otel/metric\n\ngo 1.23.0\n\n"
        "require go.opentelemetry.io/otel v1.35.0\n"
    ),
    "metric/metric.go": "package metric\n",
    "trace/go.mod": "module go.opentelemetry.io/otel/trace\n\ngo 1.23.0\n",
    "trace/trace.go": "package trace\n",
}
MODULES = ["//:root", "//metric:metric", "//trace:trace"]


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (("toolchain go1.24.1", "toolchain go1.24.2"), "go.work (every module of the workspace)"),
        (("go 1.23.0\n\ntoolchain", "go 1.24.0\n\ntoolchain"), "go.work (every module"),
        (("\t./trace\n)\n", "\t./trace\n)\n\nreplace golang.org/x/net => ../net\n"),
         "go.work (every module"),
        (("\t./trace\n", ""), "go.work (every module"),
    ],
    ids=["toolchain", "go", "replace", "use"],
)  # fmt: skip
def test_go_work_edits_reach_every_module(
    cli: Cli, make_repo: MakeRepo, edit: tuple[str, str], reason: str
) -> None:
    repo = make_repo(OTEL)
    repo.write("go.work", OTEL["go.work"].replace(*edit))
    data = affected(cli, repo)
    remaining = MODULES if edit[1] else ["//:root", "//metric:metric"]
    assert data["affected"] == remaining
    assert data["reasons"]["//metric:metric"].startswith(f"root configuration: {reason}")


def test_a_requirement_bump_in_one_workspace_module_reaches_the_others_requiring_it(
    cli: Cli, make_repo: MakeRepo
) -> None:
    """GoogleCloudPlatform/golang-samples: a go.work of 154 modules. A workspace builds
    every module with one build list (MVS over all their requirements), so bumping
    golang.org/x/net in metric's go.mod changes the x/net that trace is built with:
    only metric was affected. The root module, which does not require x/net, is not."""
    files = dict(OTEL)
    files["metric/go.mod"] += "require golang.org/x/net v0.30.0\n"
    files["trace/go.mod"] += "\nrequire golang.org/x/net v0.28.0 // indirect\n"
    repo = make_repo(files)
    repo.write("metric/go.mod", files["metric/go.mod"].replace("v0.30.0", "v0.31.0"))
    data = affected(cli, repo)
    assert data["affected"] == ["//metric:metric", "//trace:trace"]
    assert data["reasons"]["//trace:trace"] == (
        "root configuration: go.work workspace requirement golang.org/x/net"
        " (every module requiring it) changed"
    )
    # Without a go.work each module resolves its own build list: trace is not reached.
    repo.delete("go.work")
    repo.commit("no workspace")
    repo.write("metric/go.mod", files["metric/go.mod"].replace("v0.30.0", "v0.32.0"))
    assert affected(cli, repo)["affected"] == ["//metric:metric"]


def test_go_work_sum_reaches_every_module(cli: Cli, make_repo: MakeRepo) -> None:
    repo = make_repo(OTEL)
    repo.append("go.work.sum", "golang.org/x/net v0.1.0 h1:def=\n")
    assert affected(cli, repo)["affected"] == MODULES


@pytest.mark.parametrize(
    "directive", [("go 1.23.0", "go 1.24.0"), ("go 1.23.0", "go 1.23.0\n\ntoolchain go1.24.1")]
)
def test_a_modules_go_and_toolchain_directives_reach_it_and_its_dependents(
    cli: Cli, make_repo: MakeRepo, directive: tuple[str, str]
) -> None:
    repo = make_repo(OTEL)
    repo.write("go.mod", OTEL["go.mod"].replace(*directive))
    # The root module owns every file outside the others, go.work included.
    assert affected(cli, repo)["affected"] == ["//:root", "//metric:metric"]


# --- npm / pnpm: t3-oss/create-t3-turbo -----------------------------------------------

T3_WORKSPACE = """\
packages:
  - apps/*
  - packages/*

catalog:
  zod: ^3.25.0
  eslint: ^9.30.0

catalogs:
  react19:
    react: 19.1.0

onlyBuiltDependencies:
  - esbuild
"""
T3 = {
    "package.json": json.dumps(
        {
            "name": "create-t3-turbo",
            "private": True,
            "packageManager": "pnpm@10.13.1",
            "engines": {"node": ">=22.14.0"},
            "pnpm": {"overrides": {"esbuild": "0.25.0"}},
        },
        indent=2,
    ),
    "pnpm-workspace.yaml": T3_WORKSPACE,
    ".npmrc": "node-linker=hoisted\n",
    ".nvmrc": "22.14\n",
    "apps/nextjs/package.json": json.dumps(
        {
            "name": "@acme/nextjs",
            "dependencies": {"react": "catalog:react19", "@acme/validators": "workspace:*"},
        }
    ),
    "packages/validators/package.json": json.dumps(
        {"name": "@acme/validators", "dependencies": {"zod": "catalog:"}}
    ),
    "packages/ui/package.json": json.dumps(
        {"name": "@acme/ui", "devDependencies": {"eslint": "catalog:"}}
    ),
}
NPM = ["//:root", "//apps/nextjs:nextjs", "//packages/ui:ui", "//packages/validators:validators"]


@pytest.mark.parametrize(
    ("edit", "expected", "reason"),
    [
        pytest.param(
            ("zod: ^3.25.0", "zod: ^4.0.0"),
            ["//:root", "//apps/nextjs:nextjs", "//packages/validators:validators"],
            "root configuration: pnpm-workspace.yaml catalog default: zod changed",
            id="a default catalog entry reaches the packages that use it",
        ),
        pytest.param(
            ("react: 19.1.0", "react: 19.1.1"),
            ["//:root", "//apps/nextjs:nextjs"],
            "root configuration: pnpm-workspace.yaml catalog react19: react changed",
            id="a named catalog entry reaches the packages that use it",
        ),
        pytest.param(
            ("  - esbuild\n", "  - esbuild\n  - sharp\n"),
            NPM,
            "root configuration: pnpm-workspace.yaml onlyBuiltDependencies (every package) changed",
            id="a pnpm setting reaches every package",
        ),
        pytest.param(
            ("  - esbuild\n", "  - esbuild\ntrustPolicy: no-downgrade\n"),
            NPM,
            "root configuration: pnpm-workspace.yaml trustPolicy (every package) added",
            id="a new pnpm setting is named in the reason (vuejs/core e2bede9)",
        ),
    ],
)
def test_pnpm_workspace_reaches_what_it_configures(
    cli: Cli, make_repo: MakeRepo, edit: tuple[str, str], expected: list[str], reason: str
) -> None:
    repo = make_repo(T3)
    repo.write("pnpm-workspace.yaml", T3_WORKSPACE.replace(*edit))
    data = affected(cli, repo)
    assert data["affected"] == expected
    assert data["reasons"][expected[-1]] == reason


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("packageManager", "pnpm@10.14.0"),
        ("engines", {"node": ">=22.18.0"}),
        ("pnpm", {"overrides": {"esbuild": "0.25.1"}}),
        ("overrides", {"esbuild": "0.25.1"}),
        ("resolutions", {"esbuild": "0.25.1"}),
    ],
)
def test_root_package_json_install_settings_reach_every_package(
    cli: Cli, make_repo: MakeRepo, field: str, value: object
) -> None:
    repo = make_repo(T3)
    root = json.loads(T3["package.json"])
    repo.write("package.json", json.dumps({**root, field: value}))
    data = affected(cli, repo)
    assert data["affected"] == NPM
    assert data["reasons"]["//packages/ui:ui"] == (
        f"root configuration: package.json {field} (every package) "
        + ("changed" if field in root else "added")
    )


@pytest.mark.parametrize("path", [".npmrc", ".nvmrc", ".node-version", ".yarnrc.yml"])
def test_npm_config_files_reach_every_package(cli: Cli, make_repo: MakeRepo, path: str) -> None:
    repo = make_repo(T3)
    repo.write(path, "edited\n")
    data = affected(cli, repo)
    assert data["affected"] == NPM
    assert data["reasons"]["//packages/ui:ui"].startswith(f"root configuration: {path} (every")


# --- unit -----------------------------------------------------------------------------


def test_names_with_a_folder_match_the_paths_last_parts() -> None:
    assert matches("crates/a/.cargo/config.toml", [".cargo/config.toml"])
    assert not matches("crates/a/config.toml", [".cargo/config.toml"])
    assert not matches("rust-toolchain.toml.bak", ["rust-toolchain.toml"])


def test_describe_names_the_first_differing_source() -> None:
    assert describe('{"a":1,"b":2}', '{"a":1,"b":3}') == "b changed"
    assert describe(None, '{"a":1}') == "a added"
    assert describe('{"a":1}', "{}") == "a removed"
    assert describe('{"a":1}', '{"a":1}') is None


# --- Python / uv: pydantic/pydantic-ai --------------------------------------------------

PYDANTIC_AI = {
    "pyproject.toml": (
        '[project]\nname = "pydantic-ai"\nversion = "1.0.0"\n'
        'dynamic = ["dependencies"]\n\n'
        '[tool.hatch.metadata.hooks.uv-dynamic-versioning]\ndependencies = ["pydantic-ai-slim"]\n\n'
        "[tool.uv.workspace]\n"
        'members = ["pydantic_ai_slim", "pydantic_graph", "pydantic_evals"]\n\n'
        "[tool.uv]\nconstraint-dependencies = []\n"
    ),
    ".python-version": "3.12\n",
    "pydantic_ai_slim/pyproject.toml": (
        '[project]\nname = "pydantic-ai-slim"\ndynamic = ["version", "dependencies"]\n'
    ),
    "pydantic_ai_slim/pydantic_ai/__init__.py": "",
    "pydantic_graph/pyproject.toml": '[project]\nname = "pydantic-graph"\nversion = "1.0.0"\n',
    "pydantic_graph/pydantic_graph/__init__.py": "VERSION = 1\n",
    "pydantic_evals/pyproject.toml": '[project]\nname = "pydantic-evals"\nversion = "1.0.0"\n',
    "pydantic_evals/pydantic_evals/__init__.py": "from pydantic_graph import VERSION\n",
    # uv records what the metadata hooks produce.
    "uv.lock": (
        'version = 1\nrequires-python = ">=3.10"\n\n'
        '[[package]]\nname = "pydantic-ai"\nsource = { editable = "." }\n'
        'dependencies = [\n    { name = "pydantic-ai-slim" },\n]\n\n'
        '[[package]]\nname = "pydantic-ai-slim"\nsource = { editable = "pydantic_ai_slim" }\n'
        'dependencies = [\n    { name = "pydantic-graph" },\n]\n\n'
        '[[package]]\nname = "pydantic-evals"\nversion = "1.0.0"\n'
        'source = { editable = "pydantic_evals" }\n\n'
        '[[package]]\nname = "pydantic-graph"\nversion = "1.0.0"\n'
        'source = { editable = "pydantic_graph" }\n'
    ),
}
PYTHON = [
    "//:root",
    "//pydantic_ai_slim:pydantic_ai_slim",
    "//pydantic_evals:pydantic_evals",
    "//pydantic_graph:pydantic_graph",
]


def test_dynamic_dependencies_take_their_edges_from_uv_lock_and_imports(
    cli: Cli, make_repo: MakeRepo
) -> None:
    repo = make_repo(PYDANTIC_AI)
    repo.append("pydantic_graph/pydantic_graph/__init__.py", "VERSION = 2\n")
    data = affected(cli, repo)
    # slim depends on graph in uv.lock only, the root on slim; evals imports graph.
    assert data["affected"] == PYTHON
    assert data["reasons"]["//pydantic_ai_slim:pydantic_ai_slim"] == (
        "depends on //pydantic_graph:pydantic_graph "
        "(interface: pydantic_graph/pydantic_graph/__init__.py modified)"
    )
    assert data["reasons"]["//pydantic_evals:pydantic_evals"].startswith(
        "depends on //pydantic_graph:pydantic_graph (interface: "
        "pydantic_graph/pydantic_graph/__init__.py modified; "
        "pydantic_evals/pydantic_evals/__init__.py:1"
    )


@pytest.mark.parametrize(
    ("path", "text", "reason"),
    [
        (".python-version", "3.13\n", ".python-version (every package) changed"),
        (
            "pyproject.toml",
            PYDANTIC_AI["pyproject.toml"].replace("= []", '= ["grpcio<1.70"]'),
            "pyproject.toml [tool.uv] constraint-dependencies (every package) changed",
        ),
    ],
)
def test_python_root_settings_reach_every_package(
    cli: Cli, make_repo: MakeRepo, path: str, text: str, reason: str
) -> None:
    repo = make_repo(PYDANTIC_AI)
    repo.write(path, text)
    data = affected(cli, repo)
    assert data["affected"] == PYTHON
    assert data["reasons"]["//pydantic_graph:pydantic_graph"] == f"root configuration: {reason}"


def test_a_uv_workspace_below_the_root_reaches_its_own_members(
    cli: Cli, make_repo: MakeRepo
) -> None:
    # pydantic-ai's layout, one folder down (as langgraph's libs/cli/uv-examples), and
    # a project outside it: the nested root's [tool.uv] settings reach its members only.
    files = {f"py/{path}": text for path, text in PYDANTIC_AI.items()}
    files["tools/pyproject.toml"] = '[project]\nname = "tools"\nversion = "1.0.0"\n'
    repo = make_repo(files)
    repo.write(
        "py/pyproject.toml",
        PYDANTIC_AI["pyproject.toml"].replace("= []", '= ["grpcio<1.70"]'),
    )
    data = affected(cli, repo)
    assert data["affected"] == [
        "//py/pydantic_ai_slim:pydantic_ai_slim",
        "//py/pydantic_evals:pydantic_evals",
        "//py/pydantic_graph:pydantic_graph",
        "//py:py",
    ]
    assert data["reasons"]["//py/pydantic_graph:pydantic_graph"] == (
        "root configuration: py/pyproject.toml [tool.uv] constraint-dependencies (every package)"
        " changed"
    )


def test_explain_diff_names_the_root_configuration_source(cli: Cli, make_repo: MakeRepo) -> None:
    repo = make_repo(HELIX)
    repo.write("Cargo.toml", HELIX_ROOT.replace('lto = "thin"', 'lto = "fat"'))
    repo.commit("edit")
    result = cli(repo.root, "explain", "//helix-loader", "--diff", "HEAD~1", "--format", "json")
    differences = json.loads(result.output)["differences"]
    assert differences == [
        {
            "input": "root configuration Cargo.toml [profile] (every crate)",
            "before": '{"release": {"lto": "thin"}}',
            "after": '{"release": {"lto": "fat"}}',
        }
    ]


@pytest.mark.parametrize(
    "overrides",
    [
        {"pnpm": {"overrides": {"vite": "catalog:"}}},
        {"pnpm": {"overrides": {"@vitejs/plugin-react>vite@7": "catalog:"}}},
        {"resolutions": {"**/@vitejs/plugin-react/vite": "catalog:"}},
    ],
)
def test_a_catalog_entry_an_override_uses_reaches_every_package(
    cli: Cli, make_repo: MakeRepo, overrides: dict[str, object]
) -> None:
    # create-t3-turbo 9a7aeba51d: "vite" joins the catalog and the overrides.
    root = {**json.loads(T3["package.json"]), **overrides}
    workspace = T3_WORKSPACE.replace("  zod: ^3.25.0\n", "  zod: ^3.25.0\n  vite: 7.1.12\n")
    repo = make_repo({**T3, "package.json": json.dumps(root), "pnpm-workspace.yaml": workspace})
    repo.write("pnpm-workspace.yaml", workspace.replace("vite: 7.1.12", "vite: 7.2.0"))
    assert affected(cli, repo)["affected"] == NPM
