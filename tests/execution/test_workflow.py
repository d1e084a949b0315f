"""What runs on a first day: sizes for a plan without history, the workspace root's
tasks, and packages without the script a task runs. Real npm workspaces, real CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from gitrepo import GitRepo

Cli = Callable[..., Result]


def npm_workspace(root: Path, packages: int, files: int, scripts: dict[str, str]) -> GitRepo:
    """A committed npm workspace: ``packages`` members of ``files`` source files each."""
    repo = GitRepo(root)
    repo.write(".npmrc", "update-notifier=false\n")  # npm must not ask the registry
    repo.write(
        "package.json",
        json.dumps(
            {"name": "mono", "private": True, "workspaces": ["packages/*"],
             "scripts": {"test": "jest", "build": "tsc -b"}}
        ),
    )  # fmt: skip
    for p in range(packages):
        repo.write(f"packages/p{p}/package.json", json.dumps({"name": f"p{p}", "scripts": scripts}))
        for f in range(files):
            repo.write(f"packages/p{p}/src/f{f}.js", f"module.exports = {f};\n")
    repo.commit("initial")
    return repo


def test_first_plan_estimates_units_from_their_size(tmp_path: Path, cli: Cli) -> None:
    repo = npm_workspace(tmp_path / "repo", 65, 10, {"test": "node --test"})
    result = cli(repo.root, "plan", "test", "--shards", "auto", "--format", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["estimated"] == 65  # no history: every unit was estimated
    # 65 packages of 11 files (10 sources and package.json): 1 s + 0.5 s a file each.
    assert sum(s["estimated_s"] for s in plan["shards"]) == 65 * (1.0 + 0.5 * 11)
    assert len(plan["shards"]) == 2  # 422.5 s of work, shards of 300 s with 30 s to start


def test_workspace_root_tasks_run_only_when_named(tmp_path: Path, cli: Cli) -> None:
    # The root's `test` script runs the whole repository's test runner (jest): running it
    # beside every member's would run every test twice.
    repo = npm_workspace(tmp_path / "repo", 2, 1, {"test": "true"})
    plan = json.loads(cli(repo.root, "plan", "test", "--shards", "1", "--format", "json").output)
    assert plan["shards"][0]["units"] == ["//packages/p0:p0", "//packages/p1:p1"]
    named = cli(repo.root, "plan", "test", "//:root", "--shards", "1", "--format", "json")
    assert json.loads(named.output)["shards"][0]["units"] == ["//:root"]
    repo.write("graphkit.toml", '[workspace]\nroot_tasks = ["test"]\n')
    plan = json.loads(cli(repo.root, "plan", "test", "--shards", "1", "--format", "json").output)
    assert plan["shards"][0]["units"] == ["//:root", "//packages/p0:p0", "//packages/p1:p1"]


def test_package_without_the_script_is_skipped_not_ran(tmp_path: Path, cli: Cli) -> None:
    repo = npm_workspace(tmp_path / "repo", 2, 1, {"test": "true"})
    repo.write(
        "packages/p1/package.json",
        json.dumps({"name": "p1", "scripts": {"build": "echo built > out.txt"}}),
    )
    result = cli(repo.root, "run", "build", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # the tasks' own output goes to stderr
    statuses = {(t["label"], t["status"]) for t in report["tasks"]}
    assert statuses == {("//packages/p0:p0", "skipped"), ("//packages/p1:p1", "ran")}
    assert report["summary"]["skipped"] == 1
    text = cli(repo.root, "run", "build", "//packages/p0:p0", "--no-cache-read")
    assert text.exit_code == 0, text.output
    assert text.output.startswith(
        "[skipped] //packages/p0:p0 build (packages/p0/package.json has no 'build' script)\n"
    )
