"""Benchmark: `graphkit affected` on a generated 5,000-package repo, and CLI start-up.

    python bench/bench_affected.py [--packages 5000] [--files 20000] [--runs 7]

Generates the repo with bench/gen_repo.py (seeded), then times, as separate
processes like a CI step would run them:

- cold: `graphkit affected --base HEAD~1 --head HEAD --format json` with no memo
  (every manifest parsed);
- warm: the same command again (graph memo hit: no manifest parsed, no tree listed);
- worktree: `graphkit affected --base HEAD --format json` after one uncommitted edit
  (appends a line to the file the second commit edited), memo warm for HEAD;
- `graphkit --help`.

Prints a Markdown table of medians to paste into bench/RESULTS.md, and checks that
the answer is the same cold and warm.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model  # bench/machine.py, beside this script

HERE = Path(__file__).resolve().parent
AFFECTED = ["affected", "--base", "HEAD~1", "--head", "HEAD", "--format", "json"]
WORKTREE = ["affected", "--base", "HEAD", "--format", "json"]


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    """Wall time of one process run, and its stdout."""
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, out


def machine() -> str:
    """CPU model, cores, Python version and OS."""
    cores = os.cpu_count()
    return f"{cpu_model()}, {cores} cores, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=5000)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    graphkit = [sys.executable, "-m", "graphkit"]
    exe = shutil.which("graphkit")
    if exe:
        graphkit = [exe]  # the console script, as users run it

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        gen = subprocess.run(
            [
                sys.executable,
                str(HERE / "gen_repo.py"),
                str(repo),
                "--packages",
                str(args.packages),
                "--files",
                str(args.files),
                "--seed",
                str(args.seed),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        summary = json.loads(gen.stdout)
        memo = repo / ".git" / "graphkit"
        cold, warm = [], []
        answers = set()
        for _ in range(max(3, args.runs // 2)):
            shutil.rmtree(memo, ignore_errors=True)
            seconds, out = timed([*graphkit, *AFFECTED], repo)
            cold.append(seconds)
            answers.add(json.dumps(json.loads(out)["affected"]))
        for _ in range(args.runs):
            seconds, out = timed([*graphkit, *AFFECTED], repo)
            warm.append(seconds)
            answers.add(json.dumps(json.loads(out)["affected"]))
        edited = repo / summary["changed_file"]
        edited.write_text(edited.read_text() + "WORKTREE_EDIT = 1\n")
        timed([*graphkit, *WORKTREE], repo)  # HEAD's scan memoized, as after any commit
        worktree = [timed([*graphkit, *WORKTREE], repo)[0] for _ in range(args.runs)]
        helps = [timed([*graphkit, "--help"], repo)[0] for _ in range(args.runs)]
        assert len(answers) == 1, "cold and warm runs disagree"
        affected = json.loads(answers.pop())

    print(f"machine: {machine()}")
    print(
        f"repo: {summary['packages']} packages, {summary['files']} files; "
        f"change: {summary['changed_file']} -> {len(affected)} affected targets"
    )
    print()
    print("| command | median | min | runs |")
    print("| --- | --- | --- | --- |")
    for name, values in (
        ("affected, cold (no memo)", cold),
        ("affected, warm (memo hit)", warm),
        ("affected --base HEAD, worktree with one edit", worktree),
        ("graphkit --help", helps),
    ):
        print(
            f"| {name} | {statistics.median(values):.3f} s | {min(values):.3f} s | {len(values)} |"
        )


if __name__ == "__main__":
    main()
