"""Cycles the ecosystems allow, and the two faces of a target, on repositories shaped
like the public ones where they were found: jestjs/jest (npm devDependency cycle),
helix-editor/helix and tokio-rs/tokio (Cargo dev-dependency cycles), and
open-telemetry/opentelemetry-go (Go modules requiring each other)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from click.testing import Result
from gitrepo import GitRepo

Cli = Callable[..., Result]
MakeRepo = Callable[[dict[str, str]], GitRepo]


def npm(name: str, deps: dict[str, str] | None = None, dev: dict[str, str] | None = None) -> str:
    doc: dict[str, Any] = {"name": name, "version": "29.0.0", "main": "index.js"}
    if deps:
        doc["dependencies"] = deps
    if dev:
        doc["devDependencies"] = dev
    return json.dumps(doc, indent=2) + "\n"


# jest: jest-snapshot devDepends on jest-config, which depends on jest-snapshot;
# expect's tests import jest-snapshot; jest-cli depends on jest-config and expect.
JEST = {
    "package.json": json.dumps({"name": "jest-monorepo", "workspaces": ["packages/*"]}),
    "packages/jest-snapshot/package.json": npm("jest-snapshot", dev={"jest-config": "*"}),
    "packages/jest-snapshot/index.js": "module.exports = {};\n",
    "packages/jest-config/package.json": npm("jest-config", deps={"jest-snapshot": "*"}),
    "packages/jest-config/index.js": "require('jest-snapshot');\n",
    "packages/expect/package.json": npm("expect"),
    "packages/expect/index.js": "module.exports = {};\n",
    "packages/expect/__tests__/toMatch.test.js": "import 'jest-snapshot';\n",
    "packages/jest-cli/package.json": npm("jest-cli", deps={"jest-config": "*", "expect": "*"}),
    "packages/jest-cli/index.js": "require('jest-config');\n",
}


def cargo(name: str, table: str = "", *entries: str) -> str:
    body = f'[package]\nname = "{name}"\nversion = "0.1.0"\n'
    return body + (f"\n[{table}]\n" + "\n".join(entries) + "\n" if table else "")


# helix: helix-view dev-depends on helix-tui, which depends on helix-view.
HELIX = {
    "Cargo.toml": '[workspace]\nmembers = ["helix-*"]\n',
    "helix-view/Cargo.toml": cargo("helix-view")
    + '\n[dev-dependencies]\nhelix-tui = { path = "../helix-tui" }\n',
    "helix-view/src/lib.rs": "pub fn view() {}\n",
    "helix-tui/Cargo.toml": cargo(
        "helix-tui", "dependencies", 'helix-view = { path = "../helix-view" }'
    ),
    "helix-tui/src/lib.rs": "pub fn tui() {}\n",
    "helix-term/Cargo.toml": cargo(
        "helix-term",
        "dependencies",
        'helix-view = { path = "../helix-view" }',
        'helix-tui = { path = "../helix-tui" }',
    ),
    "helix-term/src/main.rs": "fn main() {}\n",
}

# tokio: tokio depends on tokio-macros; tokio-macros dev-depends on tokio by version,
# and the root's [patch.crates-io] points that at the local folder.
TOKIO = {
    "Cargo.toml": '[workspace]\nmembers = ["tokio", "tokio-macros"]\n\n'
    '[patch.crates-io]\ntokio = { path = "tokio" }\n',
    "tokio/Cargo.toml": cargo(
        "tokio", "dependencies", 'tokio-macros = { path = "../tokio-macros", optional = true }'
    ),
    "tokio/src/lib.rs": "pub mod rt {}\n",
    "tokio-macros/Cargo.toml": cargo("tokio-macros", "dev-dependencies", 'tokio = "1"'),
    "tokio-macros/src/lib.rs": "pub fn main() {}\n",
}

# opentelemetry-go: the root module and metric require each other (with replaces),
# and sdk requires the root.
OTEL = {
    "go.mod": "module go.opentelemetry.io/otel\n\ngo 1.22\n\n"
    "require go.opentelemetry.io/otel/metric v1.28.0\n\n"
    "replace go.opentelemetry.io/otel/metric => ./metric\n",
    "otel.go": "package otel\n",
    "metric/go.mod": "module go.opentelemetry.io/otel/metric\n\ngo 1.22\n\n"
    "require go.opentelemetry.io/otel v1.28.0\n\nreplace go.opentelemetry.io/otel => ../\n",
    "metric/meter.go": "package metric\n",
    "sdk/go.mod": "module go.opentelemetry.io/otel/sdk\n\ngo 1.22\n\n"
    "require go.opentelemetry.io/otel v1.28.0\n\nreplace go.opentelemetry.io/otel => ../\n",
    "sdk/sdk.go": "package sdk\n",
}


def affected(cli: Cli, repo: GitRepo) -> dict[str, Any]:
    result = cli(repo.root, "affected", "--base", "HEAD", "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def cycles(cli: Cli, repo: GitRepo) -> list[dict[str, Any]]:
    result = cli(repo.root, "query", "cycles", "--format", "json")
    assert result.exit_code == 0, result.output
    found: list[dict[str, Any]] = json.loads(result.output)["cycles"]
    return found


def test_jest_devdependency_cycle_is_no_error_and_its_members_share_inputs(
    cli: Cli, make_repo: MakeRepo
) -> None:
    repo = make_repo(JEST)
    repo.append("packages/jest-config/index.js", "// edited\n")
    data = affected(cli, repo)
    # npm devDependencies carry: jest-snapshot is in the cycle, and expect's tests,
    # which import jest-snapshot, see its interface move.
    assert data["affected"] == [
        "//packages/expect:expect",
        "//packages/jest-cli:jest-cli",
        "//packages/jest-config:jest-config",
        "//packages/jest-snapshot:jest-snapshot",
    ]
    assert data["reasons"]["//packages/jest-snapshot:jest-snapshot"] == (
        "depends on //packages/jest-config:jest-config "
        "(interface: packages/jest-config/index.js modified)"
    )
    assert cycles(cli, repo) == [
        {
            "members": [
                "//packages/jest-config:jest-config",
                "//packages/jest-snapshot:jest-snapshot",
            ],
            "shares_inputs": True,
            "edges": [
                {
                    "from": "//packages/jest-config:jest-config",
                    "to": "//packages/jest-snapshot:jest-snapshot",
                    "kind": "normal",
                    "carries": True,
                },
                {
                    "from": "//packages/jest-snapshot:jest-snapshot",
                    "to": "//packages/jest-config:jest-config",
                    "kind": "dev",
                    "carries": True,
                },
            ],
        }
    ]


def test_an_import_from_a_test_file_affects_the_importer_only(
    cli: Cli, make_repo: MakeRepo
) -> None:
    """expect's test imports jest-snapshot: an edit there affects expect's tests, and
    jest-cli, which depends on expect, is not affected through that edge."""
    files = {**JEST, "packages/jest-snapshot/package.json": npm("jest-snapshot")}
    repo = make_repo(files)
    repo.append("packages/jest-snapshot/index.js", "// edited\n")
    data = affected(cli, repo)
    assert data["reasons"]["//packages/expect:expect"] == (
        "tests depend on //packages/jest-snapshot:jest-snapshot "
        "(interface: packages/jest-snapshot/index.js modified; "
        "packages/expect/__tests__/toMatch.test.js:1 imports packages/jest-snapshot/index.js; "
        "dependents not affected)"
    )
    # jest-cli is affected through jest-config (a normal dep), never through expect.
    assert data["reasons"]["//packages/jest-cli:jest-cli"].startswith(
        "depends on //packages/jest-config:jest-config"
    )
    assert cycles(cli, repo) == []


def test_helix_dev_dependency_cycle_stops_at_the_dev_dependent(
    cli: Cli, make_repo: MakeRepo
) -> None:
    repo = make_repo(HELIX)
    repo.append("helix-tui/src/lib.rs", "// edited\n")
    data = affected(cli, repo)
    assert data["affected"] == [
        "//helix-term:helix-term",
        "//helix-tui:helix-tui",
        "//helix-view:helix-view",
    ]
    assert data["reasons"]["//helix-view:helix-view"] == (
        "tests depend on //helix-tui:helix-tui "
        "(interface: helix-tui/src/lib.rs modified; dependents not affected)"
    )
    found = cycles(cli, repo)
    assert [(c["members"], c["shares_inputs"]) for c in found] == [
        (["//helix-tui:helix-tui", "//helix-view:helix-view"], False)
    ]
    text = cli(repo.root, "query", "cycles").output
    assert "  //helix-view:helix-view -> //helix-tui:helix-tui  (dev, test-only)" in text


def test_helix_edit_to_the_dev_dependency_target_reaches_everything_above_it(
    cli: Cli, make_repo: MakeRepo
) -> None:
    repo = make_repo(HELIX)
    repo.append("helix-view/src/lib.rs", "// edited\n")
    assert affected(cli, repo)["affected"] == [
        "//helix-term:helix-term",
        "//helix-tui:helix-tui",
        "//helix-view:helix-view",
    ]


def test_explain_lists_both_keys_of_a_target_with_a_test_only_dep(
    cli: Cli, make_repo: MakeRepo
) -> None:
    repo = make_repo(HELIX)
    data = json.loads(cli(repo.root, "explain", "//helix-view", "--format", "json").output)
    assert data["key"] != data["interface_key"]
    assert list(data["test_deps"]) == ["//helix-tui:helix-tui"] and data["deps"] == {}
    assert data["target"]["test_deps"] == ["//helix-tui:helix-tui"]
    text = cli(repo.root, "explain", "//helix-view").output
    assert f"  interface key {data['interface_key']}\n" in text
    assert "  test-only dep interface keys, key only (1):" in text
    assert "deps (decl)   //helix-tui:helix-tui (dev, test-only)" in text
    tui = json.loads(cli(repo.root, "explain", "//helix-tui", "--format", "json").output)
    assert tui["deps"] == {"//helix-view:helix-view": data["interface_key"]}
    repo.append("helix-tui/src/lib.rs", "// edited\n")
    diff = cli(repo.root, "explain", "//helix-view", "--diff", "HEAD").output.splitlines()
    assert (
        diff[1] == f"  interface key {data['interface_key']} is the same: dependents not affected"
    )
    assert diff[2].startswith("  test-only dep //helix-tui:helix-tui: ")


def test_tokio_patched_dev_dependency_cycle(cli: Cli, make_repo: MakeRepo) -> None:
    repo = make_repo(TOKIO)
    repo.append("tokio/src/lib.rs", "// edited\n")
    data = affected(cli, repo)
    assert data["affected"] == ["//tokio-macros:tokio-macros", "//tokio:tokio"]
    assert data["reasons"]["//tokio-macros:tokio-macros"].startswith(
        "tests depend on //tokio:tokio"
    )
    repo.commit("edit tokio")
    repo.append("tokio-macros/src/lib.rs", "// edited\n")
    assert affected(cli, repo)["affected"] == ["//tokio-macros:tokio-macros", "//tokio:tokio"]


def test_go_modules_requiring_each_other_share_inputs(cli: Cli, make_repo: MakeRepo) -> None:
    repo = make_repo(OTEL)
    repo.append("metric/meter.go", "// edited\n")
    data = affected(cli, repo)
    assert data["affected"] == ["//:root", "//metric:metric", "//sdk:sdk"]
    found = cycles(cli, repo)
    assert [(c["members"], c["shares_inputs"]) for c in found] == [
        (["//:root", "//metric:metric"], True)
    ]
    text = cli(repo.root, "query", "cycles").output.splitlines()
    assert text == [
        "cycle of 2 targets (they share their inputs):",
        "  //:root -> //metric:metric  (normal)",
        "  //metric:metric -> //:root  (normal)",
    ]


def test_build_toml_cycles_are_still_an_error(cli: Cli, make_repo: MakeRepo) -> None:
    rule = 'rule = "filegroup"\n'
    repo = make_repo(
        {
            "a/BUILD.toml": f'[[target]]\nname = "a"\n{rule}deps = ["//b"]\n',
            "b/BUILD.toml": f'[[target]]\nname = "b"\n{rule}deps = ["//a"]\n',
        }
    )
    result = cli(repo.root, "query", "cycles")
    assert result.exit_code == 2
    assert "dependency cycle: //a:a -> //b:b -> //a:a" in result.output
