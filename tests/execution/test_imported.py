"""Zero-config runs of repositories configured for turbo or nx: the real CLI on real
git repositories whose scripts are tiny `node -e` programs writing dist/."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from gitrepo import GitRepo
from runjson import run_json, statuses

Cli = Callable[..., Result]
MakeRepo = Callable[[dict[str, str]], GitRepo]

# vuejs/core's packages and how they depend on each other.
VUE = {
    "shared": [],
    "reactivity": ["shared"],
    "runtime-core": ["reactivity", "shared"],
    "vue": ["runtime-core", "shared"],
}


def build_script(deps: list[str], log: Path) -> str:
    """Writes dist/index.js, failing (exit 3) when a dependency's dist is missing."""
    checks = "".join(f"if (!fs.existsSync('../{d}/dist/index.js')) process.exit(3);" for d in deps)
    return (
        f"node -e \"const fs = require('fs');{checks}"
        "fs.mkdirSync('dist', {recursive: true});"
        "fs.writeFileSync('dist/index.js', 'built ' + Date.now());"
        f"fs.appendFileSync('{log}', process.env.npm_package_name + ' build\\n');\""
    )


def check_script(log: Path) -> str:
    """Fails (exit 4) unless the package's own dist/ is there."""
    return (
        "node -e \"const fs = require('fs');"
        "if (!fs.existsSync('dist/index.js')) process.exit(4);"
        f"fs.appendFileSync('{log}', process.env.npm_package_name + ' test\\n');\""
    )


def vue_core(log: Path, turbo: str) -> dict[str, str]:
    """A vuejs/core-shaped pnpm workspace configured by ``turbo``."""
    files = {
        "package.json": json.dumps({"name": "vue-monorepo", "private": True}, indent=2),
        "pnpm-workspace.yaml": "packages:\n  - 'packages/*'\n",
        ".gitignore": "dist/\nnode_modules/\n",
        "turbo.json": turbo,
    }
    for name, deps in VUE.items():
        npm_name = "vue" if name == "vue" else f"@vue/{name}"
        scripts = {"build": build_script(deps, log)}
        if name != "shared":  # a package without the script: turbo skips it
            scripts["test"] = check_script(log)
        manifest = {
            "name": npm_name,
            "version": "3.5.0",
            "scripts": scripts,
            "dependencies": {f"@vue/{d}": "workspace:*" for d in deps},
        }
        files[f"packages/{name}/package.json"] = json.dumps(manifest, indent=2)
        files[f"packages/{name}/src/index.ts"] = f"export const {name.replace('-', '')} = 1\n"
    return files


TURBO = """{
  "$schema": "https://turbo.build/schema.json",
  // as the turbo docs write it
  "tasks": {
    "build": { "dependsOn": ["^build"], "outputs": ["dist/**"] },
    "test": { "dependsOn": ["build"] }, /* trailing commas are JSONC too */
  },
}
"""


def test_a_vue_core_shaped_turbo_repo_builds_in_order_then_replays_and_restores_dist(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    log = tmp_path / "order.log"
    repo = make_repo(vue_core(log, TURBO))
    cache = str(tmp_path / "cache")
    first = statuses(run_json(cli, repo.root, "build", "test", "-j", "2", "--cache-dir", cache))
    assert first == {
        "//packages/reactivity:reactivity#build": "ran",
        "//packages/reactivity:reactivity#test": "ran",
        "//packages/runtime-core:runtime-core#build": "ran",
        "//packages/runtime-core:runtime-core#test": "ran",
        "//packages/shared:shared#build": "ran",
        "//packages/shared:shared#test": "skipped",
        "//packages/vue:vue#build": "ran",
        "//packages/vue:vue#test": "ran",
    }
    order = log.read_text().splitlines()
    assert order.index("@vue/shared build") < order.index("@vue/reactivity build")
    assert order.index("@vue/reactivity build") < order.index("@vue/runtime-core build")
    assert order.index("@vue/runtime-core build") < order.index("vue build")
    for name in ("@vue/reactivity", "@vue/runtime-core", "vue"):
        assert order.index(f"{name} build") < order.index(f"{name} test")
    built = {name: (repo.root / f"packages/{name}/dist/index.js").read_text() for name in VUE}
    for name in VUE:
        shutil.rmtree(repo.root / f"packages/{name}/dist")
    again = statuses(run_json(cli, repo.root, "build", "test", "--cache-dir", cache))
    assert {s for s in again.values() if s != "skipped"} == {"cached"}, again
    for name, text in built.items():  # every package's dist/, as its build wrote it
        assert (repo.root / f"packages/{name}/dist/index.js").read_text() == text
    assert len(log.read_text().splitlines()) == len(order)  # nothing ran again


NX = """{
  "$schema": "./node_modules/nx/schemas/nx-schema.json",
  "namedInputs": {
    "default": ["{projectRoot}/**/*"],
    "production": ["default", "!{projectRoot}/**/*.spec.ts"]
  },
  "targetDefaults": {
    "build": {
      "dependsOn": ["^build"],
      "outputs": ["{projectRoot}/dist"],
      "inputs": ["production", "^production"],
      "cache": true
    },
    "test": { "dependsOn": ["build"], "inputs": ["default", "^production"], "cache": true }
  }
}
"""


def nx_repo(log: Path) -> dict[str, str]:
    """The same workspace configured for nx: targetDefaults, and one project.json whose
    build is an nx:run-commands target (the others run their package.json scripts)."""
    files = vue_core(log, "")
    del files["turbo.json"]
    files["nx.json"] = NX
    build = build_script(VUE["vue"], log).replace("process.env.npm_package_name", "'vue'")
    # Its package.json has no build script: the nx:run-commands target runs all the same.
    manifest = json.loads(files["packages/vue/package.json"])
    del manifest["scripts"]["build"]
    files["packages/vue/package.json"] = json.dumps(manifest, indent=2)
    files["packages/vue/project.json"] = json.dumps(
        {
            "name": "vue",
            "targets": {
                "build": {
                    "executor": "nx:run-commands",
                    "options": {"command": build, "cwd": "{projectRoot}"},
                }
            },
        },
        indent=2,
    )
    return files


def test_an_nx_repo_builds_in_order_then_replays_and_restores_dist(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    log = tmp_path / "order.log"
    repo = make_repo(nx_repo(log))
    cache = str(tmp_path / "cache")
    first = statuses(run_json(cli, repo.root, "build", "test", "-j", "2", "--cache-dir", cache))
    assert {n for n, s in first.items() if s == "ran"} == {
        f"//packages/{name}:{name}#{task}"
        for name in VUE
        for task in ("build", "test")
        if (name, task) != ("shared", "test")
    }
    order = log.read_text().splitlines()
    assert order.index("@vue/shared build") < order.index("@vue/reactivity build")
    assert order.index("@vue/runtime-core build") < order.index("vue build")
    assert order.index("vue build") < order.index("vue test")
    built = {name: (repo.root / f"packages/{name}/dist/index.js").read_text() for name in VUE}
    for name in VUE:
        shutil.rmtree(repo.root / f"packages/{name}/dist")
    again = statuses(run_json(cli, repo.root, "build", "test", "--cache-dir", cache))
    assert {s for s in again.values() if s != "skipped"} == {"cached"}, again
    for name, text in built.items():  # {projectRoot}/dist of every project, restored
        assert (repo.root / f"packages/{name}/dist/index.js").read_text() == text
    assert len(log.read_text().splitlines()) == len(order)


def test_unmapped_settings_warn_on_stderr_and_in_json_and_bad_files_exit_2(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    turbo = '{\n  "envMode": "loose",\n  "tasks": {\n    "build": {"outputLogs": "full"}\n  }\n}\n'
    repo = make_repo(vue_core(tmp_path / "log", turbo))
    result = cli(repo.root, "affected", "--base", "HEAD", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["warnings"] == [
        "turbo.json:2: envMode is not supported; ignored "
        "(graphkit always runs tasks with only their declared variables (strict))",
        "turbo.json:4: tasks.build.outputLogs is not supported; ignored "
        "(graphkit prints every task's output on failure only)",
    ]
    assert "graphkit: warning: turbo.json:2: envMode" in result.stderr
    repo.write("turbo.json", '{\n  "tasks": {\n    "build": {"dependsOn": ["@vue/nope#build"]}\n}}')
    broken = cli(repo.root, "run", "build")
    assert broken.exit_code == 2
    assert "turbo.json:3: task 'build' depends on '@vue/nope#build'" in broken.stderr
    repo.write("turbo.json", '{\n  "tasks": {\n    "build": {"outputs": [}\n}}')
    broken = cli(repo.root, "run", "build")
    assert broken.exit_code == 2
    assert "turbo.json:3: invalid JSON" in broken.stderr


def test_tasks_prints_the_task_graph_as_json_text_dot_and_the_graph_page(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(vue_core(tmp_path / "log", TURBO))
    result = cli(repo.root, "tasks", "build", "test", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    by_id = {t["id"]: t for t in data["tasks"]}
    vue_test = by_id["//packages/vue:vue#test"]
    assert vue_test["needs"] == ["//packages/vue:vue#build"]
    # ^build: each direct dependency's build, as turbo's --dry=json lists it (reactivity
    # comes through runtime-core's build).
    assert by_id["//packages/vue:vue#build"]["needs"] == [
        "//packages/runtime-core:runtime-core#build",
        "//packages/shared:shared#build",
    ]
    assert by_id["//packages/vue:vue#build"]["outputs"] == ["packages/vue/dist/**"]
    assert vue_test["command"] == "cd packages/vue && npm run --if-present test"
    assert (vue_test["cache"], vue_test["persistent"], vue_test["inputs"]) == (True, False, None)
    assert data["skipped"] == [
        {
            "id": "//packages/shared:shared#test",
            "why": "packages/shared/package.json has no 'test' script",
        }
    ]
    # The action key is the one `graphkit run` stores its result under.
    ran = run_json(cli, repo.root, "build", "--cache-dir", str(tmp_path / "cache"))
    assert ran["summary"]["ran"] == 4
    again = json.loads(cli(repo.root, "tasks", "build", "--format", "json").stdout)
    assert {t["id"]: t["action"] for t in again["tasks"]} == {
        i: t["action"] for i, t in by_id.items() if i.endswith("#build")
    }
    dot = cli(repo.root, "tasks", "test", "--graph", "dot").stdout
    assert '"//packages/vue:vue#test" -> "//packages/vue:vue#build";' in dot
    text = cli(repo.root, "tasks", "build").stdout
    assert "//packages/vue:vue#build  " in text and "  $ cd packages/vue && npm run" in text
    page = tmp_path / "tasks.html"
    assert cli(repo.root, "tasks", "--graph", "html", "-o", str(page)).exit_code == 0
    assert "//packages/vue:vue#test" in page.read_text()


def test_a_root_task_runs_in_the_root_package_and_others_can_need_it(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    log = tmp_path / "order.log"
    turbo = json.dumps(
        {
            "tasks": {
                "//#codegen": {"outputs": ["gen/**"]},
                "build": {"dependsOn": ["^build", "//#codegen"], "outputs": ["dist/**"]},
            }
        }
    )
    files = vue_core(log, turbo)
    codegen = (
        "node -e \"require('fs').mkdirSync('gen', {recursive: true});"
        "require('fs').writeFileSync('gen/x.js', '1');"
        f"require('fs').appendFileSync('{log}', 'root codegen\\n')\""
    )
    files["package.json"] = json.dumps(
        {"name": "vue-monorepo", "private": True, "scripts": {"codegen": codegen}}
    )
    repo = make_repo(files)
    ran = statuses(run_json(cli, repo.root, "build", "--cache-dir", str(tmp_path / "cache")))
    assert ran["//:root#codegen"] == "ran"
    assert log.read_text().splitlines()[0] == "root codegen"
    assert (repo.root / "gen/x.js").is_file()
    alone = statuses(run_json(cli, repo.root, "codegen", "--cache-dir", str(tmp_path / "cache")))
    assert alone == {"//:root#codegen": "cached"}  # only the root defines it


def test_a_changed_task_definition_affects_the_packages_it_reaches_and_a_comment_nothing(
    cli: Cli, make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(vue_core(tmp_path / "log", TURBO))
    repo.write("turbo.json", TURBO.replace("// as the turbo docs write it", "// reworded"))
    quiet = json.loads(cli(repo.root, "affected", "--base", "HEAD", "--format", "json").stdout)
    assert quiet["affected"] == []
    repo.write("turbo.json", TURBO.replace('"outputs": ["dist/**"]', '"outputs": ["lib/**"]'))
    data = json.loads(cli(repo.root, "affected", "--base", "HEAD", "--format", "json").stdout)
    assert data["affected"] == [f"//packages/{name}:{name}" for name in sorted(VUE)]
    assert data["unowned"] == []
