"""Benchmark: a cold CI runner with a warm remote cache (the memo travels, issue 15 goal 2).

    python bench/bench_memo.py prepare --repo /work/scratch/bench5k --work DIR
    flock /work/scratch/bench.lock nice -n -15 python bench/bench_memo.py measure --work DIR
        [--only warm base older]

``prepare`` (slow, unlocked) clones the bench repository (bench/gen_repo.py, whose
``HEAD~1..HEAD`` edits one file), adds a third commit editing another package, and
fills two cache-server folders through a real ``graphkit cache serve``:

- ``older``: the memo of ``HEAD~2`` only (another runner analysed an older commit);
- ``base``: the memos of ``HEAD~2`` and ``HEAD~1`` (another runner analysed the base).

``measure`` then times ``graphkit affected --base HEAD~1 --head HEAD --format json``
as separate processes, each in a fresh clone of the commits with no ``.git/graphkit``
(a cold CI runner), against a fresh copy of each server folder per run (so no run
sees what the previous one stored), and the same command with a warm local memo as
the baseline of the same locked run. It checks every answer equals the answer of a
local cold run with no remote, and that the memo came from the commit it should (the
``remote_memo`` field: the base's own memo, or the older commit's under the head),
and prints a Markdown table (wall and CPU time) with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench_affected import machine  # bench/, beside this script

KEY = "bench signing key"
AFFECTED = ["affected", "--base", "HEAD~1", "--head", "HEAD", "--format", "json", "-q"]
THIRD_EDIT = "libs/group40/pkg2000/src/pkg2000/mod_1.py"


def graphkit() -> list[str]:
    exe = shutil.which("graphkit")
    return [exe] if exe else [sys.executable, "-m", "graphkit"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(folder: Path) -> Iterator[str]:
    """A real cache server over ``folder``; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            *graphkit(),
            "cache",
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--dir",
            str(folder),
            "--max-size",
            "10GiB",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("cache server did not start") from None
                time.sleep(0.05)
        yield f"grpc://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def run(cwd: Path, args: list[str], env: dict[str, str]) -> tuple[float, dict[str, object]]:
    """Wall time and answer of one process; its CPU time (user+sys) goes to ``CPU``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(
        [*graphkit(), *args], cwd=cwd, check=True, capture_output=True, text=True, env=env
    ).stdout
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return elapsed, json.loads(out)


# The CPU time of every process ``run`` ran, in order: on a shared machine, wall time
# measures the other jobs as much as graphkit.
CPU: list[float] = []


def answer(data: dict[str, object]) -> tuple[object, ...]:
    return tuple(data[k] for k in ("affected", "removed", "unowned", "reasons"))


def load_average() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def without_key(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "GRAPHKIT_MEMO_SIGNATURE_KEY"}


def prepare(repo: Path, work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    origin = work / "origin"
    # --no-local packs the objects as a CI fetch would (the generator writes loose ones).
    git(work, "clone", "-q", "--no-local", str(repo), str(origin))
    path = origin / THIRD_EDIT
    path.write_text(path.read_text() + "\nTHIRD = 3\n")
    git(
        origin,
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@example.invalid",
        "commit",
        "-qam",
        f"Edit {THIRD_EDIT}",
    )
    git(origin, "repack", "-adq")  # the third commit packed too, as a fetch brings it
    env = {**os.environ, "GRAPHKIT_MEMO_SIGNATURE_KEY": KEY}
    warm = work / "warm"
    git(work, "clone", "-q", "--no-local", str(origin), str(warm))
    # The cold answer, with no remote at all, and a warm local memo for the baseline.
    _, cold = run(warm, AFFECTED, without_key(env))
    (work / "cold.json").write_text(json.dumps(cold))
    for name, commits in (("older", ["HEAD~2"]), ("base", ["HEAD~2", "HEAD~1"])):
        folder = work / f"server-{name}"
        # No local memo: a memo stored before from this checkout is not stored again.
        shutil.rmtree(origin / ".git" / "graphkit", ignore_errors=True)
        with server(folder) as url:
            for commit in commits:
                args = ["affected", "--base", commit, "--head", commit, "--format", "json"]
                run(origin, [*args, "-q", "--remote-cache", url], env)


SCENARIOS = ("warm", "base", "older")


def measure(work: Path, runs: int, only: tuple[str, ...] = SCENARIOS) -> None:
    env = {**os.environ, "GRAPHKIT_MEMO_SIGNATURE_KEY": KEY}
    origin = work / "origin"
    cold = json.loads((work / "cold.json").read_text())
    head, base, older = (git(origin, "rev-parse", rev) for rev in ("HEAD", "HEAD~1", "HEAD~2"))
    load_before = load_average()
    rows: list[tuple[str, list[float], list[float]]] = []
    times, cpu = [], []
    for _ in range(runs if "warm" in only else 0):
        elapsed, data = run(work / "warm", AFFECTED, without_key(env))
        assert answer(data) == answer(cold)
        times.append(elapsed)
        cpu.append(CPU[-1])
    if times:
        rows.append(("warm local memo, no remote (baseline)", times, cpu))
    for name, label, origin_of in (
        ("base", "cold runner, the base analysed before", {base: base}),
        ("older", "cold runner, only an older commit analysed", {head: older}),
    ):
        if name not in only:
            continue
        times, cpu = [], []
        for _ in range(runs):
            # A fresh clone (no .git/graphkit) and a fresh copy of the server's folder.
            runner, fresh = work / "runner", work / "server-run"
            for folder in (runner, fresh):
                shutil.rmtree(folder, ignore_errors=True)
            git(work, "clone", "-q", str(origin), str(runner))
            shutil.copytree(work / f"server-{name}", fresh)
            with server(fresh) as url:
                os.sync()  # the checkout's 25,000 files written out before, not during
                elapsed, data = run(runner, [*AFFECTED, "--remote-cache", url], env)
                cpu.append(CPU[-1])
            assert answer(data) == answer(cold), name
            memo = data["remote_memo"]
            assert isinstance(memo, dict), memo
            for sha, source in origin_of.items():
                assert memo.get(sha, {}).get("from") == source, (name, memo)
            times.append(elapsed)
        rows.append((label, times, cpu))
    print(f"Machine: {machine()}; load average before: {load_before}, after: {load_average()}")
    print(f"Runs: {runs} each, separate processes.\n")
    print(
        "| command (`affected --base HEAD~1 --head HEAD --format json`) "
        "| median | min | median CPU | runs |"
    )
    print("| --- | --- | --- | --- | --- |")
    for label, values, cpus in rows:
        print(
            f"| {label} | {statistics.median(values):.3f} s | {min(values):.3f} s "
            f"| {statistics.median(cpus):.3f} s | {len(values)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--repo", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    m = sub.add_parser("measure")
    m.add_argument("--work", type=Path, required=True)
    m.add_argument("--runs", type=int, default=5)
    m.add_argument(
        "--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS), help="rows to measure"
    )
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.repo, args.work)
    else:
        measure(args.work, args.runs, tuple(args.only))


if __name__ == "__main__":
    main()
