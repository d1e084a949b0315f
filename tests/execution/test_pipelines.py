"""Task dependencies (`needs`, turbo's `dependsOn`): one task graph for several tasks."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from gitrepo import GitRepo
from runjson import run_json, statuses

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


def test_build_test_runs_as_one_task_graph_in_needs_order_then_from_the_cache(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    log = tmp_path / "order.log"
    repo = _repo(make_repo, log)
    cache = str(tmp_path / "cache")
    first = run_json(cli, repo.root, "build", "test", "-j", "2", "--cache-dir", cache)
    assert set(statuses(first)) == {
        f"//{p}:{p}#{t}" for p in ("lib", "app") for t in ("codegen", "build", "test")
    }
    assert set(statuses(first).values()) == {"ran"}
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
    again = run_json(cli, repo.root, "build", "test", "--cache-dir", cache)
    assert set(statuses(again).values()) == {"cached"}
    # An edit to app reruns app's tasks only; lib's replay from the cache.
    repo.append("app/app.txt", "more\n")
    edited = statuses(run_json(cli, repo.root, "build", "test", "--cache-dir", cache))
    assert {n for n, s in edited.items() if s == "ran"} == {
        f"//app:app#{t}" for t in ("codegen", "build", "test")
    }


def test_test_alone_pulls_in_the_builds_it_needs(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = _repo(make_repo, tmp_path / "order.log")
    data = run_json(cli, repo.root, "test", "//app", "--cache-dir", str(tmp_path / "cache"))
    assert set(statuses(data)) == {
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
    first = statuses(run_json(cli, repo.root, "build", "//app", "--cache-dir", cache))
    assert "//tools:tools#build" in first and "//app:app#codegen" not in first, first
    repo.append("tools/t.txt", "edit\n")
    second = statuses(run_json(cli, repo.root, "test", "//app", "--cache-dir", cache))
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
            "rules/meet.toml": f"[rule.meet]\nsrcs = []\n\n[rule.meet.tasks.build]\n"
            f'command = "{wait}"\nneeds = []\n',
            "a/BUILD.toml": '[[target]]\nname = "a"\nrule = "meet"\n',
            "b/BUILD.toml": '[[target]]\nname = "b"\nrule = "meet"\ndeps = ["//a"]\n',
        }
    )
    data = run_json(cli, repo.root, "build", "-j", "2", "--cache-dir", str(tmp_path / "cache"))
    assert set(statuses(data).values()) == {"ran"}


# --- outputs as folders and globs ---------------------------------------------------

_MAKE_DIST = (
    "cd {package} && mkdir -p dist/sub dist/empty build/keep && echo js > dist/a.js && "
    "echo map > dist/sub/a.js.map && echo bin > dist/run && chmod 750 dist/run && "
    "ln -sf a.js dist/latest.js && echo b > build/out.txt && echo stray > notes.txt"
)


def _dist_repo(make_repo: MakeRepo, outputs: str, command: str = _MAKE_DIST) -> GitRepo:
    return make_repo(
        {
            "graphkit.toml": '[workspace]\nrules_dir = "rules"\n',
            "rules/dist.toml": f'[rule.dist]\nsrcs = ["**"]\n\n[rule.dist.tasks.build]\n'
            f"command = '{command}'\noutputs = {outputs}\nneeds = []\n",
            "pkg/BUILD.toml": '[[target]]\nname = "pkg"\nrule = "dist"\n',
            "pkg/src.txt": "src\n",
            ".gitignore": "dist/\nbuild/\nnotes.txt\n",
        }
    )


def _tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: file contents and modes, link targets, empty folders."""
    found = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            found[rel] = f"-> {os.readlink(path)}"
        elif path.is_file():
            found[rel] = f"{oct(path.stat().st_mode & 0o777)} {path.read_text()}"
        elif not any(path.iterdir()):
            found[rel] = "empty"
    return found


def test_folder_and_glob_outputs_restore_exactly_files_modes_links_and_empty_folders(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = _dist_repo(make_repo, '["{package}/dist/**", "{package}/build/"]')
    cache = str(tmp_path / "cache")
    assert statuses(run_json(cli, repo.root, "build", "--cache-dir", cache)) == {
        "//pkg:pkg#build": "ran"
    }
    dist, build = _tree(repo.root / "pkg/dist"), _tree(repo.root / "pkg/build")
    assert dist["latest.js"] == "-> a.js" and dist["run"].startswith("0o750")
    assert dist["empty"] == "empty" and build["keep"] == "empty"
    shutil.rmtree(repo.root / "pkg/dist")
    shutil.rmtree(repo.root / "pkg/build")
    (repo.root / "pkg/notes.txt").unlink()
    again = run_json(cli, repo.root, "build", "--cache-dir", cache)
    assert statuses(again) == {"//pkg:pkg#build": "cached"}
    assert _tree(repo.root / "pkg/dist") == dist
    assert _tree(repo.root / "pkg/build") == build
    # Only the declared outputs come back: notes.txt was written but not declared.
    assert not (repo.root / "pkg/notes.txt").exists()


def test_a_symlink_out_of_the_workspace_in_an_output_folder_is_never_stored(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = _dist_repo(
        make_repo, '["{package}/dist/**"]', "cd {package} && mkdir -p dist && ln -s /etc dist/etc"
    )
    result = cli(repo.root, "run", "build", "--cache-dir", str(tmp_path / "cache"))
    assert result.exit_code == 1, result.output
    assert "output symlink 'pkg/dist/etc' -> '/etc' is absolute" in result.output


def test_a_cached_result_outside_its_globs_or_with_a_link_out_is_refused(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    from graphkit.analysis.session import Session
    from graphkit.cache.protocol import re_pb2
    from graphkit.cache.store.local import open_local_store
    from graphkit.execution.workflow import select, tasks_for

    repo = _dist_repo(make_repo, '["{package}/dist/**"]')
    cache = tmp_path / "cache"
    run_json(cli, repo.root, "build", "--cache-dir", str(cache))
    with Session.open(repo.root) as session:
        selection = select(session, "build", ["//pkg"], affected=False, base=None)
        [task] = tasks_for(selection, ["//pkg:pkg"], os.environ)
    action = task.action
    store = open_local_store(cache / "cas", 1 << 30)
    good = re_pb2.ActionResult()
    good.ParseFromString(store.get_action_result(action) or b"")
    for poison in ("escape", "undeclared"):
        bad = re_pb2.ActionResult()
        bad.CopyFrom(good)
        assert any(f.path == "pkg/dist/run" for f in bad.output_files)
        if poison == "escape":
            bad.output_symlinks.append(re_pb2.OutputSymlink(path="pkg/dist/x", target="../../.."))
        else:
            bad.output_files[0].path = "pkg/src.txt"
        store.put_action_result(action, bad.SerializeToString())
        result = cli(repo.root, "run", "build", "--cache-dir", str(cache))
        assert "refusing cached result" in result.output, result.output
        assert "[ran]" in result.output
        assert (repo.root / "pkg/src.txt").read_text() == "src\n"


# --- a generated npm workspace ------------------------------------------------------


def npm_workspace(count: int, log: Path) -> dict[str, str]:
    """``count`` packages in a chain (p1 <- p2 <- ...); build writes dist/ from the
    dependency's dist (failing when it is not there yet), test reads its own dist."""
    build = (
        "const fs = require('fs'); const dep = process.argv[2];\n"
        "if (dep && !fs.existsSync(`../${dep}/dist/index.js`)) process.exit(3);\n"
        "fs.mkdirSync('dist/types', {recursive: true});\n"
        "fs.writeFileSync('dist/index.js', 'built ' + Date.now());\n"
        f"fs.appendFileSync({str(log)!r}, process.env.npm_package_name + ' build\\n');\n"
    )
    test = (
        "const fs = require('fs'); if (!fs.existsSync('dist/index.js')) process.exit(4);\n"
        f"fs.appendFileSync({str(log)!r}, process.env.npm_package_name + ' test\\n');\n"
    )
    files = {
        "package.json": json.dumps(
            {"name": "root", "private": True, "workspaces": ["packages/*"]}, indent=2
        ),
        ".gitignore": "dist/\nnode_modules/\n",
        "tools/build.js": build,
        "tools/test.js": test,
    }
    for n in range(1, count + 1):
        dep = f"p{n - 1}" if n > 1 else ""
        manifest = {
            "name": f"p{n}",
            "version": "1.0.0",
            "scripts": {
                "build": f"node ../../tools/build.js {dep}".strip(),
                "test": "node ../../tools/test.js",
            },
            "dependencies": {dep: "*"} if dep else {},
        }
        files[f"packages/p{n}/package.json"] = json.dumps(manifest, indent=2)
        files[f"packages/p{n}/index.js"] = f"module.exports = {n};\n"
    return files


def test_an_npm_workspace_builds_in_order_tests_after_builds_and_restores_dist(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    log = tmp_path / "order.log"
    repo = make_repo(npm_workspace(3, log))
    cache = str(tmp_path / "cache")
    first = run_json(cli, repo.root, "build", "test", "-j", "2", "--cache-dir", cache)
    assert set(statuses(first).values()) == {"ran"}, first
    assert len(first["tasks"]) == 6
    order = log.read_text().split("\n")
    assert order.index("p1 build") < order.index("p2 build") < order.index("p3 build")
    for n in (1, 2, 3):
        assert order.index(f"p{n} build") < order.index(f"p{n} test")
    built = (repo.root / "packages/p3/dist/index.js").read_text()
    for n in (1, 2, 3):
        shutil.rmtree(repo.root / f"packages/p{n}/dist")
    # test alone: its builds come back from the cache (dist/ with them), tests replay.
    again = run_json(cli, repo.root, "test", "--cache-dir", cache)
    assert set(statuses(again).values()) == {"cached"}, again
    assert len(again["tasks"]) == 6
    assert (repo.root / "packages/p3/dist/index.js").read_text() == built
    assert (repo.root / "packages/p3/dist/types").is_dir()
    # An edit to p2 rebuilds p2 and p3 (whose build needs p2's), and re-runs their tests.
    repo.append("packages/p2/index.js", "// edit\n")
    edited = statuses(run_json(cli, repo.root, "build", "test", "--cache-dir", cache))
    assert sorted(n for n, s in edited.items() if s == "ran") == [
        "//packages/p2:p2#build",
        "//packages/p2:p2#test",
        "//packages/p3:p3#build",
        "//packages/p3:p3#test",
    ]


def test_an_npm_test_file_reruns_test_only_and_an_interface_file_reruns_both(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    """`build` keys the interface (no test files), `test` the full inputs: a test file
    re-runs the package's test and replays its build; its dependents see nothing."""
    log = tmp_path / "order.log"
    repo = make_repo(npm_workspace(3, log))
    cache = str(tmp_path / "cache")
    run_json(cli, repo.root, "build", "test", "-j", "2", "--cache-dir", cache)
    repo.write("packages/p2/index.test.js", "// a new test\n")
    edited = statuses(run_json(cli, repo.root, "build", "test", "--cache-dir", cache))
    assert sorted(n for n, s in edited.items() if s == "ran") == ["//packages/p2:p2#test"]
    assert edited["//packages/p2:p2#build"] == "cached"
    repo.append("packages/p2/index.js", "// an interface edit\n")
    edited = statuses(run_json(cli, repo.root, "build", "test", "--cache-dir", cache))
    assert sorted(n for n, s in edited.items() if s == "ran") == [
        "//packages/p2:p2#build",
        "//packages/p2:p2#test",
        "//packages/p3:p3#build",
        "//packages/p3:p3#test",
    ]
