"""The npm workspace bench/gen_repo.py generates (the one bench/bench_peers.py times
against turbo), run zero-config under its turbo.json pipeline: `build test` in
dependency order, then every task from the cache with every dist/ restored."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from click.testing import Result
from gitrepo import GitRepo
from runjson import run_json, statuses

Cli = Callable[..., Result]

BENCH = Path(__file__).resolve().parents[2] / "bench"
PACKAGES = 24
# The pipeline bench/peers_run.py gives turbo.
TURBO = {
    "tasks": {
        "build": {"dependsOn": ["^build"], "outputs": ["dist/**"]},
        "test": {"dependsOn": ["build"]},
    }
}
# build fails (exit 3) when a dependency's dist/ is missing, then writes its own.
BUILD_JS = """const fs = require('fs'); const path = require('path');
const root = path.resolve('../../..');
for (const dep of process.argv.slice(2)) {
  if (!fs.existsSync(path.join(root, dep, 'dist/index.js'))) process.exit(3);
}
fs.mkdirSync('dist/types', {recursive: true});
fs.writeFileSync('dist/index.js', 'built ' + process.env.npm_package_name + ' ' + Date.now());
fs.appendFileSync(LOG, process.env.npm_package_name + ' build\\n');
"""
# test fails (exit 4) unless its own dist/ is there.
TEST_JS = """const fs = require('fs');
if (!fs.existsSync('dist/index.js')) process.exit(4);
fs.appendFileSync(LOG, process.env.npm_package_name + ' test\\n');
"""


def _gen_repo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_repo", BENCH / "gen_repo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_generated_npm_workspace_builds_in_order_then_restores_every_dist(
    cli: Cli, tmp_path: Path
) -> None:
    root = tmp_path / "npm"
    _gen_repo().generate(root, PACKAGES, PACKAGES * 3, 1, "npm")
    repo = GitRepo(root)  # the generated repository, committed on top
    folders: dict[str, str] = {}
    deps: dict[str, list[str]] = {}
    for manifest in sorted(root.glob("*/*/*/package.json")):
        doc = json.loads(manifest.read_text())
        folders[doc["name"]] = manifest.parent.relative_to(root).as_posix()
        deps[doc["name"]] = sorted(doc["dependencies"])
    assert len(folders) == PACKAGES
    assert sum(len(d) for d in deps.values()) > PACKAGES // 2  # a DAG, not loose packages
    for name, folder in folders.items():
        doc = json.loads((root / folder / "package.json").read_text())
        args = " ".join(folders[dep] for dep in deps[name])
        doc["scripts"] = {
            "build": f"node ../../../tools/build.js {args}".strip(),
            "test": "node ../../../tools/test.js",
        }
        repo.write(f"{folder}/package.json", json.dumps(doc, indent=2) + "\n")
    log = tmp_path / "order.log"  # tasks see no variable they do not declare: a literal
    repo.write("tools/build.js", f"const LOG = {json.dumps(str(log))};\n{BUILD_JS}")
    repo.write("tools/test.js", f"const LOG = {json.dumps(str(log))};\n{TEST_JS}")
    repo.write("turbo.json", json.dumps(TURBO, indent=2) + "\n")
    repo.append(".gitignore", "dist/\n")
    repo.commit("build and test scripts, turbo's pipeline")
    cache = str(tmp_path / "cache")

    first = statuses(run_json(cli, root, "build", "test", "-j", "2", "--cache-dir", cache))
    assert len(first) == 2 * PACKAGES
    assert set(first.values()) == {"ran"}, first
    order = log.read_text().splitlines()
    assert sorted(order) == sorted(f"{n} {t}" for n in folders for t in ("build", "test"))
    for name in folders:
        assert order.index(f"{name} build") < order.index(f"{name} test")
        for dep in deps[name]:  # ^build: each direct dependency's build first
            assert order.index(f"{dep} build") < order.index(f"{name} build")

    built = {f: (root / f / "dist/index.js").read_text() for f in folders.values()}
    for folder in folders.values():
        shutil.rmtree(root / folder / "dist")
    again = statuses(run_json(cli, root, "build", "test", "--cache-dir", cache))
    assert again == dict.fromkeys(first, "cached")
    assert log.read_text().splitlines() == order  # nothing ran again
    for folder, text in built.items():
        assert (root / folder / "dist/index.js").read_text() == text
        assert (root / folder / "dist/types").is_dir()  # an empty folder output too
