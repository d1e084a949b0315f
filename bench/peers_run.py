"""The run workload of bench/bench_peers.py: turbo and graphkit executing one task graph.

    python bench/bench_peers.py --workload run --packages 300 [--runs 5] [--first-runs 1]
        [--stub-npm-first] [--skip-install]

Each package of the generated npm workspace (``gen_repo.py --kind npm``) gets the
scripts ``build`` and ``test``, both ``node -e 0``; the pipeline is turbo's usual one,
the same on both sides:

- turbo: ``turbo.json`` ``build: {dependsOn: ["^build"], outputs: ["dist/**"]}``,
  ``test: {dependsOn: ["build"]}``; ``turbo run build test --concurrency=2``.
- graphkit: no configuration; its ``npm_package`` rule says the same (``build`` needs
  ``^build`` and declares ``{package}/dist/**``, ``test`` needs ``build``), each task
  ``cd {package} && npm run --if-present TASK``; ``graphkit run build test -j 2``.

Both run 2 * packages tasks through npm. Timed, per size:

1. **first run**: each tool's task cache emptied (turbo's ``.turbo``, graphkit's
   ``.git/graphkit/cas`` and its keyed task graphs ``.git/graphkit/runs``; graphkit's
   graph memo stays, as CI restores it), then one
   full run; ``--first-runs`` rounds, interleaved. With ``--stub-npm-first`` the
   first runs use a stub ``npm`` on PATH (a shell script printing what ``npm run``
   prints, without starting Node): it measures the tools' own per-task overhead, and
   fills both caches cheaply at 5,000 packages, where real first runs take hours here.
2. **fully cached re-run**: one warm-up round, then ``--runs`` timed rounds, with the
   real npm on PATH; every task must be a cache hit (turbo's ``Cached: N cached, N
   total``, graphkit's ``cached N`` with nothing ran).

Every run must report exactly ``2 * packages`` tasks (none on a first run from the
cache, all on a re-run): otherwise the table is printed with the problems under it
and the script exits 2, so a figure of a different task graph never passes as a
result. graphkit's own bytecode is compiled first (as ``pip install`` does), so that
its start-up is not a compile when ``PYTHONDONTWRITEBYTECODE`` is set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SCRIPTS = {"build": "node -e 0", "test": "node -e 0"}
TURBO_JSON = {
    "$schema": "https://turbo.build/schema.json",
    "tasks": {
        "build": {"dependsOn": ["^build"], "outputs": ["dist/**"]},
        "test": {"dependsOn": ["build"]},
    },
}
JOBS = 2
# `npm run X` as a shell script: the same two header lines npm prints, no Node started.
STUB_NPM = """#!/bin/sh
for last in "$@"; do :; done
name=$(sed -n 's/^  "name": "\\(.*\\)",$/\\1/p' package.json)
printf '\\n> %s@1.0.0 %s\\n> node -e 0\\n\\n' "$name" "$last"
"""
_GRAPHKIT_COUNTS = re.compile(r"ran (\d+), cached (\d+), failed (\d+)")
_TURBO_COUNTS = re.compile(r"Cached:\s+(\d+) cached, (\d+) total")


@dataclass
class Runner:
    """One tool under test: its command, how to empty its task cache, how to count hits."""

    name: str
    cmd: list[str]
    cache_dirs: tuple[str, ...]
    first: list[float] = field(default_factory=list)
    cached: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def clear(self, repo: Path) -> None:
        """Empty the tool's task cache (results only, not graphkit's graph memo)."""
        for folder in self.cache_dirs:
            shutil.rmtree(repo / folder, ignore_errors=True)

    def hits(self, out: str) -> tuple[int, int]:
        """(cache hits, tasks) that the run's output reports."""
        if self.name == "turbo":
            found = _TURBO_COUNTS.search(out)
            return (int(found[1]), int(found[2])) if found else (-1, -1)
        found = _GRAPHKIT_COUNTS.search(out)
        if not found:
            return (-1, -1)
        ran, cached, failed = (int(g) for g in found.groups())
        return cached, ran + cached + failed


def prepare(repo: Path) -> int:
    """Give every package the two scripts and write turbo.json; commit. Returns the
    number of packages."""
    count = 0
    for manifest in repo.glob("*/*/*/package.json"):
        doc = json.loads(manifest.read_text())
        doc["scripts"] = SCRIPTS
        manifest.write_text(json.dumps(doc, indent=2) + "\n")
        count += 1
    (repo / "turbo.json").write_text(json.dumps(TURBO_JSON, indent=2) + "\n")
    with (repo / ".gitignore").open("a") as ignore:
        ignore.write("dist/\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "run workload"], cwd=repo, check=True)
    return count


def stub_path(folder: Path) -> str:
    """A folder holding the stub npm, to put first on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    stub = folder / "npm"
    stub.write_text(STUB_NPM)
    stub.chmod(0o755)
    return str(folder)


def timed(cmd: Sequence[str], repo: Path, env: dict[str, str]) -> tuple[float, str]:
    """Wall time and output (stdout + stderr) of one run; RuntimeError if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        tail = "\n".join(out.strip().splitlines()[-15:])
        raise RuntimeError(f"`{' '.join(cmd)}` exited {proc.returncode}:\n{tail}")
    return seconds, out


def bench_run(
    repo: Path,
    runners: Sequence[Runner],
    env: dict[str, str],
    *,
    runs: int,
    first_runs: int,
    stub_first: bool,
) -> None:
    """Time first runs and fully cached re-runs of every runner on ``repo``."""
    packages = prepare(repo)
    tasks = 2 * packages
    first_env = dict(env)
    if stub_first:
        stub = stub_path(repo.parent / f"{repo.name}-stub")
        first_env["PATH"] = f"{stub}{os.pathsep}{env['PATH']}"
    for _ in range(max(first_runs, 1)):
        for runner in runners:
            runner.clear(repo)
            seconds, out = timed(runner.cmd, repo, first_env)
            hits, seen = runner.hits(out)
            if (hits, seen) != (0, tasks):
                runner.problems.append(f"first run: {hits} hits of {seen} tasks, not 0 of {tasks}")
            if first_runs:
                runner.first.append(seconds)
    for round_no in range(runs + 1):  # round 0 is the warm-up
        for runner in runners:
            seconds, out = timed(runner.cmd, repo, env)
            hits, seen = runner.hits(out)
            if (hits, seen) != (tasks, tasks):
                runner.problems.append(f"re-run: {hits} hits of {seen} tasks, not all {tasks}")
            if round_no:
                runner.cached.append(seconds)
    report(packages, tasks, runners, stub_first)
    problems = [f"{r.name}: {p}" for r in runners for p in dict.fromkeys(r.problems)]
    if problems:
        raise RuntimeError("the tools did not run the same task graph: " + "; ".join(problems))


def report(packages: int, tasks: int, runners: Sequence[Runner], stub_first: bool) -> None:
    """Print one Markdown table: first run and cached re-run, medians, ratio to turbo."""
    first = "first run (stub npm)" if stub_first else "first run"
    print(
        f"\n### run workload: {packages} packages, {tasks} tasks "
        "(`build test`, -j / --concurrency 2)\n"
    )
    print("| tool | phase | median | min | runs | per task | vs turbo |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    turbo = next((r for r in runners if r.name == "turbo"), None)
    for phase, attr in ((first, "first"), ("fully cached re-run", "cached")):
        for runner in runners:
            values: list[float] = getattr(runner, attr)
            if not values:
                continue
            median = statistics.median(values)
            ratio = "—"
            base: list[float] = getattr(turbo, attr) if turbo is not None else []
            if runner is not turbo and base:
                ratio = f"{median / statistics.median(base):.2f}x"
            print(
                f"| {runner.name} | {phase} | {median:.3f} s | {min(values):.3f} s "
                f"| {len(values)} | {median / tasks * 1000:.2f} ms | {ratio} |"
            )
    for runner in runners:
        for problem in dict.fromkeys(runner.problems):
            print(f"\n{runner.name}: {problem}")
