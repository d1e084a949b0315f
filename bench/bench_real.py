"""Sweep: graphkit as a new user runs it on real monorepos, with turbo and nx beside it.

    python bench/bench_real.py CLONE... [--runs 3] [--cold-runs 1] [--peers] [--skip-install]
                               [--affected-only]

Each CLONE is a local clone of a public monorepo at its default branch, checked out
clean (bring one with the search tool's `fetch` and `git clone` it; tests never do
this). On each, with no edit to the repository, it runs every command a user tries
first, on the change HEAD~1..HEAD, as separate processes:

- `affected --base HEAD~1 --head HEAD --format json` cold (no memo: `.git/graphkit`
  removed) and warm (median of --runs);
- `why`, `explain` and `query deps` on the first affected target (else the first
  target), `query cycles`, `graph --format json`, `plan test --affected --base HEAD~1`
  and `matrix test --affected --base HEAD~1 --ci github` (the worktree is HEAD).

With --peers, on a repository with a `turbo.json` or an `nx.json` (or a JS workspace
either tool can read), also times `turbo run build --dry=json --filter=...[HEAD^1]`
and `nx show projects --affected --base=HEAD~1 --head=HEAD` (the pinned versions of
bench/peers, as bench/bench_peers.py runs them); a tool that cannot run on the
repository as it is (no lockfile install, plugins missing) is reported as such.

`--cold-runs N` times the cold run N times (the median is shown; each starts with
no memo at all). `--affected-only` times `affected` cold and warm and nothing else
(short enough to run under the bench lock on a shared machine); the answer of every
run must then be the cold run's, or the repository is reported as failing.

Prints a Markdown table for bench/RESULTS.md and, under it, the first error line of
every command that failed. Exits 1 when any graphkit command failed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench_peers import (
    PEER_MODULES,
    install_peers,
    nx_command,
    turbo_command,
)  # bench/, beside this script
from machine import cpu_model

PEER_ENV = {
    "TURBO_TELEMETRY_DISABLED": "1",
    "DO_NOT_TRACK": "1",
    "NX_DAEMON": "false",
    "NX_NO_CLOUD": "true",
    "NX_TUI": "false",
}


@dataclass
class Outcome:
    """One repository's answers and timings."""

    name: str
    commit: str
    affected: int | None = None
    targets: int | None = None
    cold_s: float | None = None
    warm_s: float | None = None
    cold_cpu: float | None = None  # user+sys of the process and its workers
    warm_cpu: float | None = None
    failures: dict[str, str] = field(default_factory=dict)
    passed: list[str] = field(default_factory=list)
    peers: dict[str, str] = field(default_factory=dict)


def run(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[float, int, str, str]:
    """Wall time, exit code, stdout and stderr of one process (its CPU time, workers
    included, is in ``last_cpu``)."""
    global last_cpu
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=900,
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    last_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, done.returncode, done.stdout, done.stderr


# The CPU time of the last command ``run`` ran: on a shared machine, wall time
# measures the other jobs as much as graphkit.
last_cpu = 0.0


def first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    error = [line for line in lines if "error" in line.lower()]
    return (error or lines or ["(no output)"])[-1 if not error else 0][:300]


def sweep(
    repo: Path,
    graphkit: list[str],
    runs: int,
    peers: bool,
    cold_runs: int = 1,
    affected_only: bool = False,
) -> Outcome:
    commit = subprocess.run(
        ["git", "rev-parse", "--short=10", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    out = Outcome(repo.name, commit)
    affected = ["affected", "--base", "HEAD~1", "--head", "HEAD", "--format", "json"]
    cold, cold_cpu, answers = [], [], []
    for _ in range(cold_runs):
        shutil.rmtree(repo / ".git" / "graphkit", ignore_errors=True)
        seconds, code, stdout, stderr = run([*graphkit, *affected], repo)
        if code != 0:
            out.failures["affected"] = first_line(stderr)
            return out
        cold.append(seconds)
        cold_cpu.append(last_cpu)
        answers.append(stdout)
    out.cold_s, out.cold_cpu = statistics.median(cold), statistics.median(cold_cpu)
    answer = json.loads(answers[0])
    out.affected = len(answer["affected"])
    warm, warm_cpu = [], []
    for _ in range(runs):
        seconds, code, stdout, stderr = run([*graphkit, *affected], repo)
        warm.append(seconds)
        warm_cpu.append(last_cpu)
        answers.append(stdout if code == 0 else first_line(stderr))
    out.warm_s, out.warm_cpu = statistics.median(warm), statistics.median(warm_cpu)
    if any(other != answers[0] for other in answers):
        out.failures["affected"] = "the answers of the cold and warm runs differ"
        return out
    out.passed.append("affected")
    if affected_only:
        if peers and (repo / "package.json").is_file():
            out.peers = time_peers(repo)
        return out
    label = answer["affected"][0] if answer["affected"] else None
    if label is None:
        _, code, graph_out, stderr = run(
            [*graphkit, "graph", "--format", "json", "--rev", "HEAD"], repo
        )
        targets = (
            [n["id"] for n in json.loads(graph_out)["nodes"] if n.get("kind") == "target"]
            if code == 0
            else []
        )
        label = targets[0] if targets else None
    commands: dict[str, list[str]] = {
        "query cycles": ["query", "cycles", "--rev", "HEAD"],
        "graph": ["graph", "--format", "json", "--rev", "HEAD"],
        "plan": ["plan", "test", "--affected", "--base", "HEAD~1"],
        "matrix": ["matrix", "test", "--affected", "--base", "HEAD~1", "--ci", "github"],
    }
    if label is not None:
        commands["why"] = ["why", label, "--base", "HEAD~1", "--head", "HEAD"]
        commands["explain"] = ["explain", label, "--rev", "HEAD"]
        commands["query deps"] = ["query", "deps", label, "--rev", "HEAD"]
    for name, args in commands.items():
        _, code, stdout, stderr = run([*graphkit, *args], repo)
        if code == 0:
            out.passed.append(name)
            if name == "graph":
                nodes = json.loads(stdout)["nodes"]
                out.targets = sum(1 for n in nodes if n.get("kind") == "target")
        else:
            out.failures[name] = first_line(stderr)
    if peers and (repo / "package.json").is_file():
        out.peers = time_peers(repo)
    return out


def time_peers(repo: Path) -> dict[str, str]:
    """turbo's and nx's times on the change, or why they cannot answer."""
    found: dict[str, str] = {}
    if (repo / "turbo.json").is_file():
        seconds, code, _, stderr = run(
            [*turbo_command(), "run", "build", "--dry=json", "--filter=...[HEAD^1]"], repo, PEER_ENV
        )
        found["turbo"] = (
            f"{seconds:.2f} s ({last_cpu:.2f} s CPU)"
            if code == 0
            else "fails: " + first_line(stderr)[:80]
        )
    else:
        found["turbo"] = "n/a (no turbo.json)"
    # The nx CLI refuses a workspace where it cannot resolve `nx`: lend it the pinned one,
    # as bench_peers.py does, and take it back afterwards.
    link = repo / "node_modules" / "nx"
    lent = not link.exists()
    if lent:
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(PEER_MODULES / "nx", target_is_directory=True)
    try:
        seconds, code, _, stderr = run(
            [*nx_command(), "show", "projects", "--affected", "--base=HEAD~1", "--head=HEAD"],
            repo,
            PEER_ENV,
        )
        found["nx"] = (
            f"{seconds:.2f} s ({last_cpu:.2f} s CPU)"
            if code == 0
            else "fails: " + first_line(stderr)[:80]
        )
    finally:
        if lent:
            link.unlink()
            if not any(link.parent.iterdir()):
                link.parent.rmdir()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clones", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold-runs", type=int, default=1)
    parser.add_argument(
        "--affected-only", action="store_true", help="time `affected` cold and warm only"
    )
    parser.add_argument("--peers", action="store_true", help="also time turbo and nx")
    parser.add_argument(
        "--skip-install", action="store_true", help="reuse bench/peers/node_modules"
    )
    args = parser.parse_args()
    exe = shutil.which("graphkit")
    graphkit = [exe] if exe else [sys.executable, "-m", "graphkit"]
    if args.peers and not args.skip_install:
        install_peers()
    outcomes = [
        sweep(repo.resolve(), graphkit, args.runs, args.peers, args.cold_runs, args.affected_only)
        for repo in args.clones
    ]
    print(f"Machine: {cpu_model()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    peer_columns = " turbo | nx |" if args.peers else ""
    print(
        "| repository | HEAD | targets | affected | cold | cold CPU | warm | warm CPU "
        f"| commands ok |{peer_columns}"
    )
    print(
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        + (" ---: | ---: |" if args.peers else "")
    )
    for o in outcomes:
        cells = [
            o.name,
            o.commit,
            str(o.targets or "?"),
            "fails" if o.affected is None else str(o.affected),
            f"{o.cold_s:.2f} s" if o.cold_s is not None else "-",
            f"{o.cold_cpu:.2f} s" if o.cold_cpu is not None else "-",
            f"{o.warm_s:.2f} s" if o.warm_s is not None else "-",
            f"{o.warm_cpu:.2f} s" if o.warm_cpu is not None else "-",
            f"{len(o.passed)}/{len(o.passed) + len(o.failures)}",
        ]
        if args.peers:
            cells += [o.peers.get("turbo", "-"), o.peers.get("nx", "-")]
        print("| " + " | ".join(cells) + " |")
    failed = [(o.name, name, why) for o in outcomes for name, why in o.failures.items()]
    if failed:
        print()
        for repo, name, why in failed:
            print(f"- {repo}: `{name}`: {why}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
