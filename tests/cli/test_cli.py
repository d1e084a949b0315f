"""The CLI end to end on testdata/monorepo: every command, text and JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

from click.testing import Result
from gitrepo import GitRepo

Cli = Callable[..., Result]


def test_help_lists_commands(cli: Cli, monorepo: GitRepo) -> None:
    result = cli(monorepo.root, "--help")
    assert result.exit_code == 0
    for command in ("affected", "why", "explain", "query", "graph"):
        assert command in result.output


def test_python_dash_m_runs_the_cli(monorepo: GitRepo) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "graphkit", "query", "rdeps", "//libs/core", "--format", "json"],
        cwd=monorepo.root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rdeps"] == [
        "//libs/api:api",
        "//libs/core:test",
        "//services/worker:test",  # imports core without declaring it (inferred)
        "//services/worker:worker",
    ]


def test_the_cli_names_the_memo_signing_key_as_the_remote_memo_does() -> None:
    from graphkit.analysis.memoremote import SIGNATURE_KEY_ENV
    from graphkit.cli import MEMO_KEY_VARIABLE

    assert MEMO_KEY_VARIABLE == SIGNATURE_KEY_ENV


def test_why_prints_the_chain(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.append("libs/util/src/util/strings.py", "\n# x\n")
    result = cli(monorepo.root, "why", "//services/gateway:test", "--base", "HEAD")
    assert result.exit_code == 0
    cause = "interface: libs/util/src/util/strings.py modified"
    assert result.output.splitlines() == [
        "//services/gateway:test is affected:",
        f"//services/gateway:test: depends on //services/gateway:gateway ({cause})",
        f"  //services/gateway:gateway: depends on //services/web:web ({cause})",
        f"    //services/web:web: depends on //libs/api:api ({cause})",
        f"      //libs/api:api: depends on //libs/core:core ({cause})",
        f"        //libs/core:core: depends on //libs/util:util ({cause})",
        "          //libs/util:util: libs/util/src/util/strings.py modified",
    ]
    data = json.loads(
        cli(monorepo.root, "why", "//tools/lint", "--base", "HEAD", "--format", "json").output
    )
    assert data == {"label": "//tools/lint:lint", "affected": False, "chain": []}


def test_explain_lists_every_input(cli: Cli, monorepo: GitRepo) -> None:
    data = json.loads(cli(monorepo.root, "explain", "//libs/core", "--format", "json").output)
    assert data["label"] == "//libs/core:core"
    assert [f["path"] for f in data["files"]] == [
        "libs/core/data/config.json",
        "libs/core/src/core/__init__.py",
        "libs/core/src/core/config.py",
        "libs/core/src/core/models.py",
    ]
    assert list(data["deps"]) == ["//libs/util:util"]
    assert data["global_inputs"]["patterns"] == ["tools/ci.toml"]
    assert len(data["key"]) == 32
    text = cli(monorepo.root, "explain", "//libs/core").output
    assert data["key"] in text and "libs/core/src/core/models.py" in text


def test_explain_key_is_the_same_committed_and_untracked(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.write("tools/lint/extra.sh", "echo extra\n")
    untracked = json.loads(cli(monorepo.root, "explain", "//tools/lint", "--format", "json").output)
    monorepo.commit()
    committed = json.loads(
        cli(monorepo.root, "explain", "//tools/lint", "--rev", "HEAD", "--format", "json").output
    )
    assert untracked["key"] == committed["key"]


def test_explain_diff_names_the_differing_inputs(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.chmod_x("services/gateway/routes.conf")
    data = json.loads(
        cli(
            monorepo.root, "explain", "//services/gateway", "--diff", "HEAD", "--format", "json"
        ).output
    )
    assert data["same"] is False
    assert [d["input"] for d in data["differences"]] == ["file services/gateway/routes.conf"]
    assert data["differences"][0]["before"].startswith("100644 ")
    assert data["differences"][0]["after"].startswith("100755 ")
    same = cli(monorepo.root, "explain", "//libs/util", "--diff", "HEAD")
    assert "is the same at both revisions" in same.output


def test_query_owners_and_unowned(cli: Cli, monorepo: GitRepo) -> None:
    owners = json.loads(
        cli(
            monorepo.root,
            "query",
            "owners",
            "libs/core/data/config.json",
            "docs/README.md",
            "--format",
            "json",
        ).output
    )
    assert owners == {
        "owners": {
            "libs/core/data/config.json": ["//libs/core:core", "//libs/core:test"],
            "docs/README.md": [],
        }
    }
    unowned = json.loads(cli(monorepo.root, "query", "unowned", "--format", "json").output)
    assert "docs/README.md" in unowned["unowned"]
    assert "tools/ci.toml" in unowned["unowned"]


def test_query_owners_of_a_missing_file_is_exit_2(cli: Cli, monorepo: GitRepo) -> None:
    result = cli(monorepo.root, "query", "owners", "no/such/file")
    assert (result.exit_code, result.output) == (
        2,
        "graphkit: error: no/such/file: no such file in the worktree (check the path)\n",
    )
    at_head = cli(monorepo.root, "query", "owners", "libs/core/new.py", "--rev", "HEAD")
    assert "libs/core/new.py: no such file in revision HEAD" in at_head.output
    folder = cli(monorepo.root, "query", "owners", "libs/core", "--format", "json")
    assert folder.exit_code == 0


def test_query_unknown_label_is_exit_2(cli: Cli, monorepo: GitRepo) -> None:
    result = cli(monorepo.root, "query", "deps", "//libs/utl")
    assert result.exit_code == 2
    assert "did you mean '//libs/util:" in result.output


def test_graph_json_and_dot(cli: Cli, monorepo: GitRepo) -> None:
    data = json.loads(cli(monorepo.root, "graph", "--format", "json").output)
    kinds = {e["kind"] for e in data["edges"]}
    assert kinds == {"deps", "owns", "imports"}
    assert {"from": "libs/core/src/core/models.py", "to": "libs/util/src/util/strings.py",
            "kind": "imports"} in data["edges"]  # fmt: skip
    monorepo.append("tools/lint/lint.sh", "\n# x\n")
    dot = cli(monorepo.root, "graph", "--format", "dot", "--affected", "--base", "HEAD").output
    assert dot.startswith("digraph graphkit {")
    assert '"//tools/lint:lint"' in dot and '"//libs/core:core"' not in dot


def test_explain_diff_traces_a_dependent_down_to_the_changed_file(
    cli: Cli, monorepo: GitRepo
) -> None:
    monorepo.append("libs/util/src/util/strings.py", "\n# x\n")
    data = json.loads(
        cli(monorepo.root, "explain", "//libs/api", "--diff", "HEAD", "--format", "json").output
    )
    assert [level["label"] for level in data["trace"]] == [
        "//libs/api:api",
        "//libs/core:core",
        "//libs/util:util",
    ]
    assert [d["input"] for d in data["trace"][-1]["differences"]] == [
        "file libs/util/src/util/strings.py"
    ]


# withastro/astro: workspace members in folders with spaces and non-ASCII names.
ASTRO_LIKE = {
    "package.json": json.dumps(
        {"name": "root", "workspaces": ["packages/*", "packages/astro/test/fixtures/*"]}
    ),
    "packages/astro/package.json": '{"name": "astro", "scripts": {"test": "true"}}',
    "packages/astro/src/index.js": "export const x = 1;\n",
    "packages/astro/test/fixtures/astro pages/package.json": json.dumps(
        {
            "name": "@test/astro-pages",
            "scripts": {"test": "true"},
            "dependencies": {"astro": "workspace:*"},
        }
    ),
    "packages/astro/test/fixtures/测试/package.json": json.dumps(
        {"name": "@test/non-ascii", "dependencies": {"astro": "workspace:*"}}
    ),
}


def test_labels_of_any_folder_name_round_trip_through_every_command(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo]
) -> None:
    repo = make_repo(ASTRO_LIKE)
    repo.append("packages/astro/src/index.js", "export const y = 2;\n")
    repo.commit("edit astro")
    spaced = "//packages/astro/test/fixtures/astro%20pages:astro%20pages"
    chinese = "//packages/astro/test/fixtures/测试:测试"
    data = json.loads(
        cli(repo.root, "affected", "--base", "HEAD~1", "--head", "HEAD", "--format", "json").stdout
    )
    assert data["affected"] == [spaced, chinese, "//packages/astro:astro"]
    assert data["warnings"] == []
    for label in data["affected"]:
        why = cli(repo.root, "why", label, "--base", "HEAD~1", "--head", "HEAD")
        assert why.exit_code == 0, why.output
        assert why.stdout.startswith(f"{label} is affected:")
    # The raw spelling works too, and `query` prints the escaped one.
    rdeps = cli(repo.root, "query", "rdeps", "//packages/astro", "--format", "json").stdout
    assert json.loads(rdeps)["rdeps"] == [spaced, chinese]
    raw = cli(repo.root, "query", "deps", "//packages/astro/test/fixtures/astro pages")
    assert raw.stdout.split() == ["//packages/astro:astro"]
    # The CI plan names units by label; each one resolves again in the shard's run.
    plan = json.loads(cli(repo.root, "matrix", "test", "--ci", "json").stdout)
    units = sorted(unit for shard in plan["shards"] for unit in shard["units"])
    assert spaced in units
    for unit in units:
        assert cli(repo.root, "query", "deps", unit).exit_code == 0


def test_a_stray_manifest_is_a_warning_on_stderr_and_in_json(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo]
) -> None:
    repo = make_repo(
        {"app/package.json": '{"name": "app"}', "test/fixtures/bad/package.json": '{"name": '}
    )
    repo.write("app/index.js", "1\n")
    result = cli(repo.root, "affected", "--base", "HEAD", "--format", "json")
    assert result.exit_code == 0
    warning = (
        "test/fixtures/bad/package.json:1: invalid JSON: Expecting value; not a workspace member"
    )
    assert json.loads(result.stdout)["warnings"] == [warning]
    assert result.stderr == f"graphkit: warning: {warning}\n"


def test_a_broken_member_manifest_is_exit_2_not_a_removed_target(
    cli: Cli, monorepo: GitRepo
) -> None:
    # testdata/monorepo's js/package.json declares ui and app below the repository root.
    monorepo.write("js/ui/package.json", '{\n  "name": 5\n}\n')
    result = cli(monorepo.root, "affected", "--base", "HEAD")
    assert result.exit_code == 2
    assert (
        result.stderr
        == "graphkit: error: js/ui/package.json:2: `name` must be a non-empty string\n"
    )
