"""Benchmark: graphkit vs Turborepo vs Nx answering "what is affected?" on an npm workspace.

    python bench/bench_peers.py [--packages 1000 5000] [--runs 5] [--skip-install]
    python bench/bench_peers.py --workload run --packages 300 [--first-runs 1] [--stub-npm-first]

``--workload run`` times turbo and graphkit running ``build test`` over the same
task graph, first and fully cached (see bench/peers_run.py); what follows describes
the default ``affected`` workload.

Steps:

1. ``npm ci --prefix bench/peers``: installs the pinned peers (``turbo``, ``nx``; see
   ``bench/peers/package.json``) into ``bench/peers/node_modules``. Nothing global,
   no network but the npm registry. ``--skip-install`` reuses an existing install.
2. For each ``--packages`` size, generates the npm-workspace repo with
   ``bench/gen_repo.py --kind npm`` (``--files`` = 4 per package, seeded), whose
   ``HEAD~1..HEAD`` edits one file of a mid-level package. ``node_modules/nx`` in the
   repo is a symlink to the pinned Nx (git-ignored by the generated ``.gitignore``):
   the nx CLI refuses to run in a workspace where it cannot resolve ``nx``.
3. Times, as separate processes like a CI step runs them, interleaved round by
   round so that load on the machine hits every tool alike (one warm-up round, then
   ``--runs`` timed rounds; each tool keeps whatever cache it writes, so these are
   steady-state figures):

   - ``graphkit affected --base HEAD~1 --head HEAD --format json``;
   - ``turbo run test --dry=json --filter=...[HEAD^1]``, the platform binary
     from ``@turbo/<os>-<arch>`` run directly (no Node shim); turbo 2.11 has no
     daemon for ``turbo run`` (the daemon flag/env var is deprecated and only
     warns), telemetry off with ``TURBO_TELEMETRY_DISABLED=1`` / ``DO_NOT_TRACK=1``;
   - ``nx show projects --affected --base=HEAD~1 --head=HEAD`` with
     ``NX_DAEMON=false``, ``NX_NO_CLOUD=true`` (``NX_SKIP_NX_CACHE`` only concerns
     task results, which ``show projects`` never reads, so it is not set).

4. Maps each answer to package folders (graphkit labels ``//folder:name`` or npm
   aliases; turbo tasks' ``directory``; Nx project names, which are the npm names)
   and compares the three sets with each other and with the generator's own count.

Prints a Markdown table of medians and the ratios turbo/graphkit and nx/graphkit
(the issue's goal at 5,000 packages: at least 2x and 10x). Exits 1 when the
affected sets differ or a tool fails (its error is printed; the others still run),
2 when the setup fails (npm, node, the generator).
"""

from __future__ import annotations

import argparse
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from machine import cpu_model  # bench/machine.py, beside this script
from peers_run import Runner, bench_run

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
PEER_MODULES = PEERS / "node_modules"
FILES_PER_PACKAGE = 4
SKIP_DIRS = {"node_modules", ".git", ".nx", ".turbo"}
ENV = {
    "TURBO_TELEMETRY_DISABLED": "1",
    "DO_NOT_TRACK": "1",
    "NX_DAEMON": "false",
    "NX_NO_CLOUD": "true",
    "NX_TUI": "false",
    "NO_COLOR": "1",
    "FORCE_COLOR": "0",
}
GRAPHKIT_ARGS = ["affected", "--base", "HEAD~1", "--head", "HEAD", "--format", "json"]
TURBO_ARGS = ["run", "test", "--dry=json", "--filter=...[HEAD^1]"]
NX_ARGS = ["show", "projects", "--affected", "--base=HEAD~1", "--head=HEAD"]


class ToolError(RuntimeError):
    """A tool exited non-zero or printed something this script cannot read."""


@dataclass
class Tool:
    """One command under test: how to run it and how to read its answer as folders."""

    name: str
    cmd: list[str]
    parse: Callable[[str, dict[str, str]], set[str]]
    seconds: list[float] = field(default_factory=list)
    answer: set[str] | None = None
    error: str | None = None  # set when the tool failed; it is not run again


def run(cmd: Sequence[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    """Wall time and stdout of one process; ToolError with its stderr if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise ToolError(f"`{' '.join(cmd)}` exited {proc.returncode}:\n{tail}")
    return seconds, proc.stdout


# --- reading the answers ------------------------------------------------------------


def npm_names(repo: Path) -> dict[str, str]:
    """npm package name -> repo-relative folder ("" for the root), from every package.json."""
    names: dict[str, str] = {}
    for folder, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        if "package.json" in files:
            doc = json.loads(Path(folder, "package.json").read_text())
            if isinstance(doc.get("name"), str):
                names[doc["name"]] = Path(folder).relative_to(repo).as_posix().strip(".")
    return names


def by_name(name: str, names: dict[str, str], tool: str) -> str:
    """The folder of npm package name, or ToolError naming the tool that printed it."""
    if name not in names:
        raise ToolError(f"{tool} printed {name!r}, which is no package of the repo")
    return names[name]


def graphkit_folders(out: str, names: dict[str, str]) -> set[str]:
    """Folders of graphkit's affected targets: ``//folder:name`` / ``//folder`` or an alias."""
    folders = set()
    for label in json.loads(out)["affected"]:
        if label.startswith("//"):
            folders.add(label[2:].split(":", 1)[0])
        else:
            folders.add(by_name(label, names, "graphkit"))
    return folders


def turbo_folders(out: str, names: dict[str, str]) -> set[str]:
    """Folders of the packages in turbo's dry-run task list (``//`` is the root)."""
    folders = set()
    for task in json.loads(out)["tasks"]:
        if task["package"] == "//":
            folders.add("")
        elif "directory" in task:
            folders.add(task["directory"].strip("./"))
        else:
            folders.add(by_name(task["package"], names, "turbo"))
    return folders


def nx_folders(out: str, names: dict[str, str]) -> set[str]:
    """Folders of the projects Nx lists, one name a line."""
    return {by_name(line.strip(), names, "nx") for line in out.splitlines() if line.strip()}


# --- setting up -----------------------------------------------------------------------


def install_peers() -> None:
    """``npm ci`` the pinned peers into bench/peers/node_modules."""
    npm = shutil.which("npm")
    if npm is None:
        raise ToolError("npm is not on PATH")
    subprocess.run(
        [npm, "ci", "--prefix", str(PEERS), "--no-audit", "--no-fund"],
        check=True,
        stdout=sys.stderr,
    )


def peer_version(package: str) -> str:
    """The installed version of a peer, from its package.json."""
    manifest = PEER_MODULES / package / "package.json"
    if not manifest.is_file():
        raise ToolError(f"{package} is not installed: run without --skip-install")
    return str(json.loads(manifest.read_text())["version"])


def turbo_command() -> list[str]:
    """turbo's platform binary (npm installs only the one for this machine)."""
    for exe in sorted(PEER_MODULES.glob("@turbo/*/bin/turbo*")):
        if os.access(exe, os.X_OK):
            return [str(exe)]
    return [str(PEER_MODULES / ".bin" / "turbo")]  # the Node shim, which finds it itself


def nx_command() -> list[str]:
    """Nx's CLI entry point, under this machine's node."""
    node = shutil.which("node")
    if node is None:
        raise ToolError("node is not on PATH")
    return [node, str(PEER_MODULES / "nx" / "dist" / "bin" / "nx.js")]


def graphkit_command() -> list[str]:
    """The graphkit console script, as users run it (or ``python -m graphkit``)."""
    exe = shutil.which("graphkit")
    return [exe] if exe else [sys.executable, "-m", "graphkit"]


def generate(repo: Path, packages: int, seed: int) -> dict[str, object]:
    """Generate the npm repo, link the pinned nx into it, return gen_repo's summary."""
    gen = subprocess.run(
        [
            sys.executable,
            str(HERE / "gen_repo.py"),
            str(repo),
            "--packages",
            str(packages),
            "--files",
            str(packages * FILES_PER_PACKAGE),
            "--seed",
            str(seed),
            "--kind",
            "npm",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (repo / "node_modules").mkdir()
    (repo / "node_modules" / "nx").symlink_to(PEER_MODULES / "nx", target_is_directory=True)
    summary: dict[str, object] = json.loads(gen.stdout)
    return summary


def machine() -> str:
    """CPU model, cores, load, Python and Node versions."""
    cpu = cpu_model()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"{cpu}, {os.cpu_count()} cores (load {load}), Python {platform.python_version()}, "
        f"Node {node}, {platform.system()}"
    )


# --- measuring ----------------------------------------------------------------------


def bench_size(repo: Path, summary: dict[str, object], runs: int) -> bool:
    """Time the three tools on one repo, print the table; True when the sets agree."""
    env = {**os.environ, **ENV}
    names = npm_names(repo)
    tools = [
        Tool("graphkit", [*graphkit_command(), *GRAPHKIT_ARGS], graphkit_folders),
        Tool("turbo", [*turbo_command(), *TURBO_ARGS], turbo_folders),
        Tool("nx", [*nx_command(), *NX_ARGS], nx_folders),
    ]
    for round_no in range(runs + 1):  # round 0 is the warm-up
        for tool in tools:
            if tool.error:
                continue
            try:
                seconds, out = run(tool.cmd, repo, env)
                answer = tool.parse(out, names)
                if tool.answer is not None and answer != tool.answer:
                    raise ToolError(f"{tool.name} changed its answer between runs")
            except (ToolError, ValueError, KeyError) as exc:  # bad JSON / missing field
                tool.error = str(exc) or type(exc).__name__
                continue
            tool.answer = answer
            if round_no:
                tool.seconds.append(seconds)

    expected = int(str(summary["affected_packages"]))
    print(
        f"\n### {summary['packages']} packages, {summary['files']} files\n\n"
        f"change: `{summary['changed_file']}` (package `{summary['changed_npm_name']}`); "
        f"gen_repo expects {expected} affected packages\n"
    )
    base = statistics.median(tools[0].seconds) if tools[0].seconds else None
    print("| tool | affected packages | median | min | runs | vs graphkit |")
    print("| --- | --- | --- | --- | --- | --- |")
    for tool in tools:
        if not tool.seconds:
            print(f"| {tool.name} | failed | — | — | 0 | — |")
            continue
        median = statistics.median(tool.seconds)
        ratio = "—"
        if tool is not tools[0] and base:
            ratio = f"{median / base:.1f}x" + ("" if tools[0].answer else " (graphkit empty)")
        print(
            f"| {tool.name} | {len(tool.answer or ())} | {median:.3f} s "
            f"| {min(tool.seconds):.3f} s | {len(tool.seconds)} | {ratio} |"
        )
    return report(tools, expected)


def report(tools: Sequence[Tool], expected: int) -> bool:
    """Print whether the affected sets agree and how they differ; True when they do."""
    for tool in tools:
        if tool.error:
            print(f"\n{tool.name} FAILED: {tool.error}")
    answers = {tool.name: tool.answer or set() for tool in tools}
    reference_name = "turbo" if answers["turbo"] else max(answers, key=lambda n: len(answers[n]))
    reference = answers[reference_name]
    equal = not any(tool.error for tool in tools) and all(a == reference for a in answers.values())
    print(f"\nsets EQUAL: {'yes' if equal else 'NO'}")
    for name, answer in answers.items():
        if answer != reference:
            print(f"  only {name}: {sorted(answer - reference)[:10]}")
            print(f"  only {reference_name}, not {name}: {sorted(reference - answer)[:10]}")
    if len(reference) != expected:
        print(f"  {reference_name}'s {len(reference)} packages differ from gen_repo's {expected}")
    if not answers["graphkit"] and not tools[0].error:
        print("  graphkit found nothing: does it read package.json workspaces yet?")
    sys.stdout.flush()
    return equal


def compile_graphkit() -> None:
    """Write graphkit's bytecode, as ``pip install`` does: an editable install under
    ``PYTHONDONTWRITEBYTECODE`` would otherwise compile every module on every start."""
    spec = importlib.util.find_spec("graphkit")
    if spec is not None and spec.submodule_search_locations:
        folder = next(iter(spec.submodule_search_locations))
        subprocess.run([sys.executable, "-m", "compileall", "-q", folder], check=True)


def run_workload(repo: Path, args: argparse.Namespace) -> None:
    """turbo and graphkit running `build test` on ``repo`` (see bench/peers_run.py)."""
    compile_graphkit()
    runners = [
        Runner("turbo", [*turbo_command(), "run", "build", "test", "--concurrency=2"], (".turbo",)),
        Runner(
            "graphkit",
            [*graphkit_command(), "run", "build", "test", "-j", "2"],
            (".git/graphkit/cas", ".git/graphkit/runs"),
        ),
    ]
    bench_run(
        repo,
        runners,
        {**os.environ, **ENV},
        runs=args.runs,
        first_runs=args.first_runs,
        stub_first=args.stub_npm_first,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse and check the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool (>= 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workload", choices=("affected", "run"), default="affected")
    parser.add_argument(
        "--first-runs", type=int, default=1, help="run workload: timed first runs per tool"
    )
    parser.add_argument(
        "--stub-npm-first",
        action="store_true",
        help="run workload: first runs with a stub npm (tool overhead; fills caches cheaply)",
    )
    parser.add_argument(
        "--skip-install", action="store_true", help="reuse bench/peers/node_modules"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: install, generate, measure; 0 when every size agrees."""
    args = parse_args(argv)
    try:
        if not args.skip_install:
            install_peers()
        print(f"machine: {machine()}")
        gk_version = run([*graphkit_command(), "--version"], HERE, dict(os.environ))[1].strip()
        print(f"turbo {peer_version('turbo')}, nx {peer_version('nx')}, {gk_version}")
        agree = True
        with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
            for packages in args.packages:
                repo = Path(tmp) / f"npm{packages}"
                summary = generate(repo, packages, args.seed)
                if args.workload == "run":
                    run_workload(repo, args)
                    continue
                agree = bench_size(repo, summary, args.runs) and agree
    except (ToolError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
