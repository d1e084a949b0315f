"""Benchmark: `graphkit affected` on generated repos (cold, warm, worktree), and start-up.

    python bench/bench_affected.py [--packages 5000] [--files 20000] [--runs 7]
    python bench/bench_affected.py --repo /path/to/generated [--only warm worktree]
        [--baseline /path/to/other/graphkit/tree]

Generates the repo with bench/gen_repo.py (seeded) into a temp folder, or takes one
gen_repo.py made before (``--repo``: generating 100,000 packages takes a quarter of
an hour). Then times, as separate processes like a CI step would run them:

- cold: `graphkit affected --base HEAD~1 --head HEAD --format json` with no memo
  (every manifest parsed);
- warm: the same command again (graph memo hit: no manifest parsed, no tree listed);
- worktree: `graphkit affected --base HEAD --format json` after one uncommitted edit
  (appends a line to the file the second commit edited, and puts it back after), memo
  warm for HEAD;
- `graphkit --help`.

Each figure is the median wall time, with the median CPU time (user + system, worker
processes included: what a loaded machine does not inflate much) and the peak RSS of the
runs (``wait4``).
graphkit's modules are compiled to bytecode first, as installing a wheel compiles them.
``--baseline TREE`` runs the same commands with graphkit imported from another source
tree (``PYTHONPATH``), interleaved with this one's, and prints the ratios: on a
loaded machine ratios measured together hold better than seconds.

Prints a Markdown table to paste into bench/RESULTS.md, and checks that every run of
a command gives the same answer.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from machine import cpu_model  # bench/machine.py, beside this script

HERE = Path(__file__).resolve().parent
AFFECTED = ["affected", "--base", "HEAD~1", "--head", "HEAD", "--format", "json"]
WORKTREE = ["affected", "--base", "HEAD", "--format", "json"]
PHASES = ("cold", "warm", "worktree", "help")


@dataclass
class Runs:
    """Wall seconds and peak RSS (KiB) of each run of one command."""

    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system, the process's children too
    rss_kib: list[int] = field(default_factory=list)
    answers: set[str] = field(default_factory=set)

    def row(self, name: str) -> str:
        median = statistics.median(self.seconds)
        rss = max(self.rss_kib) / 1024
        cpu = statistics.median(self.cpu)
        return (
            f"| {name} | {median:.3f} s | {min(self.seconds):.3f} s | {cpu:.3f} s "
            f"| {rss:,.0f} MiB | {len(self.seconds)} |"
        )


def timed(cmd: list[str], cwd: Path, env: dict[str, str], runs: Runs) -> None:
    """Run once; record wall time, peak RSS and the affected list."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode} in {cwd}")
    runs.seconds.append(seconds)
    runs.cpu.append(usage.ru_utime + usage.ru_stime)
    runs.rss_kib.append(usage.ru_maxrss)
    if out.startswith(b"{"):
        found = json.loads(out)
        runs.answers.add(json.dumps([found["affected"], found["changed"]]))


def compile_bytecode(package: Path) -> None:
    """Write the bytecode of graphkit's modules, as installing a wheel does (pip compiles
    at install time): from an editable install with PYTHONDONTWRITEBYTECODE set, every
    run would compile every module it imports again (0.1-0.3 s a run on this machine)."""
    compileall.compile_dir(str(package), quiet=1)


def machine() -> str:
    """CPU model, cores, Python version and OS."""
    cores = os.cpu_count()
    return f"{cpu_model()}, {cores} cores, Python {platform.python_version()}, {platform.system()}"


def generate(args: argparse.Namespace, into: Path) -> Path:
    subprocess.run(
        [sys.executable, str(HERE / "gen_repo.py"), str(into), "--packages", str(args.packages),
         "--files", str(args.files), "--seed", str(args.seed)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return into


def changed_file(repo: Path) -> str:
    """The file gen_repo.py's second commit edited."""
    out = subprocess.run(
        ["git", "diff", "--name-only", "HEAD~1", "HEAD"],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    assert len(out) == 1, out
    return out[0]


def measure(
    repo: Path, phases: list[str], runs: int, commands: dict[str, tuple[list[str], dict[str, str]]]
) -> dict[tuple[str, str], Runs]:
    """Every phase for every command (``name -> (argv prefix, env)``), interleaved."""
    found: dict[tuple[str, str], Runs] = {}
    memo = repo / ".git" / "graphkit"
    for phase in phases:
        for name in commands:
            found[phase, name] = Runs()
        if phase == "cold":
            for _ in range(max(1, runs)):
                for name, (argv, env) in commands.items():
                    shutil.rmtree(memo, ignore_errors=True)
                    timed([*argv, *AFFECTED], repo, env, found[phase, name])
            continue
        if phase == "warm":
            argv, env = next(iter(commands.values()))
            timed([*argv, *AFFECTED], repo, env, Runs())  # make sure the memo is warm
            for _ in range(runs):
                for name, (argv, env) in commands.items():
                    timed([*argv, *AFFECTED], repo, env, found[phase, name])
            continue
        if phase == "worktree":
            edited = repo / changed_file(repo)
            before = edited.read_bytes()
            try:
                edited.write_bytes(before + b"WORKTREE_EDIT = 1\n")
                for argv, env in commands.values():  # HEAD's scan memoized, as after a commit
                    timed([*argv, *WORKTREE], repo, env, Runs())
                for _ in range(runs):
                    for name, (argv, env) in commands.items():
                        timed([*argv, *WORKTREE], repo, env, found[phase, name])
            finally:
                edited.write_bytes(before)
            continue
        for _ in range(runs):
            for name, (argv, env) in commands.items():
                timed([*argv, "--help"], repo, env, found[phase, name])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=5000)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repo", type=Path, help="a repo gen_repo.py made (default: generate)")
    parser.add_argument("--only", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--baseline", type=Path, help="another graphkit source tree to compare")
    args = parser.parse_args()
    graphkit = [sys.executable, "-m", "graphkit"]
    exe = shutil.which("graphkit")
    if exe:
        graphkit = [exe]  # the console script, as users run it
    commands = {"graphkit": (graphkit, dict(os.environ))}
    spec = importlib.util.find_spec("graphkit")
    if spec is not None and spec.origin is not None:
        compile_bytecode(Path(spec.origin).parent)
    if args.baseline:
        env = {**os.environ, "PYTHONPATH": str(args.baseline.resolve())}
        commands["baseline"] = ([sys.executable, "-m", "graphkit"], env)
        compile_bytecode(args.baseline.resolve() / "graphkit")

    with tempfile.TemporaryDirectory() as tmp:
        repo = args.repo.resolve() if args.repo else generate(args, Path(tmp) / "repo")
        found: dict[tuple[str, str], Runs] = {}
        for phase in args.only:  # cold runs are long: fewer of them
            runs = args.cold_runs if phase == "cold" else args.runs
            found.update(measure(repo, [phase], runs, commands))
        files = subprocess.run(
            ["git", "ls-files"], cwd=repo, check=True, capture_output=True
        ).stdout.count(b"\n")
        change = changed_file(repo)

    for (phase, name), runs in found.items():
        if phase in ("cold", "warm"):
            answers = found.get(("warm", name), runs).answers | runs.answers
            assert len(answers) <= 1, f"{name}: cold and warm runs disagree"
        assert len(runs.answers) <= 1, f"{name} {phase}: runs disagree"
    if args.baseline:
        for phase in args.only:
            if phase != "help":
                same = found[phase, "graphkit"].answers == found[phase, "baseline"].answers
                assert same, f"{phase}: graphkit and the baseline disagree"

    print(f"machine: {machine()}; load average before/after: see uptime")
    print(f"repo: {repo} ({files} files); change: {change}")
    print()
    print("| command | median | min | median CPU | peak RSS | runs |")
    print("| --- | --- | --- | --- | --- | --- |")
    titles = {
        "cold": "affected, cold (no memo)",
        "warm": "affected, warm (memo hit)",
        "worktree": "affected --base HEAD, worktree with one edit",
        "help": "graphkit --help",
    }
    for (phase, name), runs in found.items():
        print(runs.row(titles[phase] + ("" if name == "graphkit" else f" [{name}]")))
    if args.baseline:
        print()
        for phase in args.only:
            new = statistics.median(found[phase, "graphkit"].seconds)
            old = statistics.median(found[phase, "baseline"].seconds)
            print(f"{phase}: graphkit / baseline = {new / old:.2f}")


if __name__ == "__main__":
    main()
