"""Task dependencies (`needs`, turbo's `dependsOn`): one task graph for several tasks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from gitrepo import GitRepo

Cli = Callable[..., Result]
MakeRepo = Callable[[dict[str, str]], GitRepo]


def _rules(log: Path) -> str:
    """A rule whose tasks append `label task` to ``log`` (outside the workspace)."""
    step = f'echo "{{label}} {{task}}" >> {log}'
    return (
        '[rule.step]\nsrcs = ["**"]\n\n'
        f"[rule.step.tasks.codegen]\ncommand = '{step.replace('{task}', 'codegen')}'\n"
        "needs = []\n\n"
        f"[rule.step.tasks.build]\ncommand = '{step.replace('{task}', 'build')}'\n"
        'needs = ["^build", "codegen"]\n\n'
        f"[rule.step.tasks.test]\ncommand = '{step.replace('{task}', 'test')}'\n"
        'needs = ["build"]\n'
    )


def _repo(make_repo: MakeRepo, log: Path, extra: dict[str, str] | None = None) -> GitRepo:
    return make_repo(
        {
            "graphkit.toml": '[workspace]\nrules_dir = "rules"\n',
            "rules/step.toml": _rules(log),
            "lib/BUILD.toml": '[[target]]\nname = "lib"\nrule = "step"\n',
            "lib/lib.txt": "lib\n",
            "app/BUILD.toml": '[[target]]\nname = "app"\nrule = "step"\ndeps = ["//lib"]\n',
            "app/app.txt": "app\n",
            **(extra or {}),
        }
    )


def _run(cli: Cli, repo: GitRepo, *args: str) -> dict[str, Any]:
    result = cli(repo.root, "run", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _statuses(data: dict[str, Any]) -> dict[str, str]:
    return {f"{t['label']}#{t['task']}": t["status"] for t in data["tasks"]}


def test_build_test_runs_as_one_task_graph_in_needs_order_then_from_the_cache(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    log = tmp_path / "order.log"
    repo = _repo(make_repo, log)
    cache = str(tmp_path / "cache")
    first = _run(cli, repo, "build", "test", "-j", "2", "--cache-dir", cache)
    assert set(_statuses(first)) == {
        f"//{p}:{p}#{t}" for p in ("lib", "app") for t in ("codegen", "build", "test")
    }
    assert set(_statuses(first).values()) == {"ran"}
    order = log.read_text().splitlines()
    at = {line: index for index, line in enumerate(order)}
    assert len(order) == 6
    for before, after in (
        ("//lib:lib codegen", "//lib:lib build"),  # build needs codegen
        ("//lib:lib build", "//app:app build"),  # ^build
        ("//app:app codegen", "//app:app build"),
        ("//lib:lib build", "//lib:lib test"),  # test needs build
        ("//app:app build", "//app:app test"),
    ):
        assert at[before] < at[after], order
    again = _run(cli, repo, "build", "test", "--cache-dir", cache)
    assert set(_statuses(again).values()) == {"cached"}
    # An edit to app reruns app's tasks only; lib's replay from the cache.
    repo.append("app/app.txt", "more\n")
    edited = _statuses(_run(cli, repo, "build", "test", "--cache-dir", cache))
    assert {n for n, s in edited.items() if s == "ran"} == {
        f"//app:app#{t}" for t in ("codegen", "build", "test")
    }


def test_test_alone_pulls_in_the_builds_it_needs(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = _repo(make_repo, tmp_path / "order.log")
    data = _run(cli, repo, "test", "//app", "--cache-dir", str(tmp_path / "cache"))
    assert set(_statuses(data)) == {
        "//app:app#test",
        "//app:app#build",
        "//app:app#codegen",
        "//lib:lib#build",
        "//lib:lib#codegen",
    }


def test_a_needed_tasks_key_is_part_of_the_needing_tasks_key(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    """`tools` is no dependency of app; app's build needs tools' build by label, so an
    edit in tools reruns app's build (and only the tasks downstream of it)."""
    log = tmp_path / "order.log"
    repo = _repo(
        make_repo,
        log,
        {
            "tools/BUILD.toml": '[[target]]\nname = "tools"\nrule = "step"\n',
            "tools/t.txt": "t\n",
            "app/BUILD.toml": '[[target]]\nname = "app"\nrule = "step"\ndeps = ["//lib"]\n'
            'needs = { build = ["^build", "//tools#build"] }\n',
        },
    )
    cache = str(tmp_path / "cache")
    first = _statuses(_run(cli, repo, "build", "//app", "--cache-dir", cache))
    assert "//tools:tools#build" in first and "//app:app#codegen" not in first, first
    repo.append("tools/t.txt", "edit\n")
    second = _statuses(_run(cli, repo, "test", "//app", "--cache-dir", cache))
    assert second["//tools:tools#build"] == "ran"
    assert second["//app:app#build"] == "ran"  # same content, new needed key
    assert second["//lib:lib#build"] == "cached"


def test_a_cycle_in_the_task_graph_is_an_input_error_naming_it(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = _repo(
        make_repo,
        tmp_path / "order.log",
        {
            "lib/BUILD.toml": '[[target]]\nname = "lib"\nrule = "step"\n'
            'needs = { codegen = ["test"] }\n'
        },
    )
    result = cli(repo.root, "run", "build", "--cache-dir", str(tmp_path / "cache"))
    assert result.exit_code == 2, result.output
    assert (
        "the task graph has a cycle: //lib:lib#build -> //lib:lib#codegen -> "
        "//lib:lib#test -> //lib:lib#build"
    ) in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("need", "message"),
    [
        ("^", "is not a task"),
        ("#build", "is not a task"),
        ("//nowhere#build", "app/BUILD.toml:1: task 'build' of //app:app needs"),
        ("//lib#deploy", "//lib:lib has no 'deploy' task"),
    ],
)
def test_a_bad_need_is_an_input_error(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path, need: str, message: str
) -> None:
    repo = _repo(
        make_repo,
        tmp_path / "order.log",
        {
            "app/BUILD.toml": '[[target]]\nname = "app"\nrule = "step"\n'
            f'needs = {{ build = ["{need}"] }}\n'
        },
    )
    result = cli(repo.root, "run", "build", "--cache-dir", str(tmp_path / "cache"))
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_j_2_runs_independent_tasks_at_the_same_time(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    """Each task waits (up to 20 s) for the other to start: only in parallel do both pass."""
    meet = tmp_path / "meet"
    meet.mkdir()
    wait = (
        f"touch {meet}/{{name}}; i=0; while [ $(ls {meet} | wc -l) -lt 2 ]; do "
        "i=$((i+1)); [ $i -gt 200 ] && exit 1; sleep 0.1; done"
    )
    repo = make_repo(
        {
            "graphkit.toml": '[workspace]\nrules_dir = "rules"\n',
            "rules/meet.toml": f'[rule.meet]\nsrcs = []\n\n[rule.meet.tasks.build]\n'
            f'command = "{wait}"\nneeds = []\n',
            "a/BUILD.toml": '[[target]]\nname = "a"\nrule = "meet"\n',
            "b/BUILD.toml": '[[target]]\nname = "b"\nrule = "meet"\ndeps = ["//a"]\n',
        }
    )
    data = _run(cli, repo, "build", "-j", "2", "--cache-dir", str(tmp_path / "cache"))
    assert set(_statuses(data).values()) == {"ran"}
