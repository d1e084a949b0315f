"""The memoized task graph of `graphkit run`: read back only when everything it is made
from is the same (files, environment, tasks asked for), and never trusted when damaged."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result
from gitrepo import GitRepo

Cli = Callable[..., Result]
MakeRepo = Callable[[dict[str, str]], GitRepo]

WRITE_DIST = (
    "node -e \"const fs = require('fs'); fs.mkdirSync('dist', {recursive: true});"
    "fs.writeFileSync('dist/out.txt', process.env.MODE || 'none')\""
)


def _files() -> dict[str, str]:
    turbo = {
        "tasks": {
            "build": {"dependsOn": ["^build"], "outputs": ["dist/**"], "env": ["MODE"]},
            "test": {"dependsOn": ["build"]},
        }
    }
    files = {
        "package.json": json.dumps({"name": "root", "private": True, "workspaces": ["pkgs/*"]}),
        "turbo.json": json.dumps(turbo),
        ".gitignore": "dist/\n",
    }
    for name, deps in (("a", {}), ("b", {"a": "*"})):
        manifest = {
            "name": name,
            "version": "1.0.0",
            "scripts": {"build": WRITE_DIST, "test": "node -e 0"},
            "dependencies": deps,
        }
        files[f"pkgs/{name}/package.json"] = json.dumps(manifest)
        files[f"pkgs/{name}/index.js"] = f"module.exports = '{name}';\n"
    return files


def _run(cli: Cli, repo: GitRepo, cache: Path, **kwargs: Any) -> dict[str, str]:
    result = cli(
        repo.root, "run", "build", "test", "--cache-dir", str(cache), "--format", "json", **kwargs
    )
    assert result.exit_code == 0, result.output
    return {f"{t['label']}#{t['task']}": t["status"] for t in json.loads(result.stdout)["tasks"]}


def test_a_task_graph_is_read_back_only_for_the_same_files_and_environment(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(_files())
    cache = tmp_path / "cache"
    memo = cache / "runs"
    first = _run(cli, repo, cache)
    assert set(first.values()) == {"ran"} and len(first) == 4, first
    assert len(list(memo.iterdir())) == 1

    assert _run(cli, repo, cache) == dict.fromkeys(first, "cached")
    assert len(list(memo.iterdir())) == 1  # the same graph, read back

    repo.append("pkgs/b/index.js", "// edited\n")  # not committed: the worktree counts
    edited = _run(cli, repo, cache)
    assert edited == {
        "//pkgs/a:a#build": "cached",
        "//pkgs/a:a#test": "cached",
        "//pkgs/b:b#build": "ran",
        "//pkgs/b:b#test": "ran",
    }
    assert len(list(memo.iterdir())) == 2

    # A declared variable keys every build (and so every test after it).
    moded = _run(cli, repo, cache, env={"MODE": "prod"})
    assert set(moded.values()) == {"ran"}, moded
    assert (repo.root / "pkgs/a/dist/out.txt").read_text() == "prod"
    assert _run(cli, repo, cache, env={"MODE": "prod"}) == dict.fromkeys(moded, "cached")
    assert _run(cli, repo, cache) == dict.fromkeys(moded, "cached")  # MODE unset again
    assert (repo.root / "pkgs/a/dist/out.txt").read_text() == "none"

    # The tasks asked for are part of the key: `build` alone is its own graph.
    alone = cli(repo.root, "run", "build", "--cache-dir", str(cache), "--format", "json")
    assert alone.exit_code == 0, alone.output
    assert [t["task"] for t in json.loads(alone.stdout)["tasks"]] == ["build", "build"]


def test_a_damaged_or_foreign_memo_is_computed_again(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(_files())
    cache = tmp_path / "cache"
    first = _run(cli, repo, cache)
    (entry,) = (cache / "runs").iterdir()
    for damage in (b"not a pickle", b"\x80\x05\x95\x03\x00\x00\x00\x00\x00\x00\x00K\x07."):
        entry.write_bytes(damage)  # garbage, then a pickle of the number 7
        assert _run(cli, repo, cache) == dict.fromkeys(first, "cached")
        assert entry.read_bytes() != damage  # written again, whole
