"""Generate a large, seeded benchmark monorepo as a git repository.

    python bench/gen_repo.py OUT_DIR --packages 5000 --files 20000 --seed 1 [--kind build|npm]

The packages form a layered dependency DAG: each package depends on 0-5 packages of
lower layers, half of them drawn from the layer just below (long chains) and half
with a power-law preference for the first packages (a few "core" hubs). The repo
gets two commits; the second edits one source file of a mid-level package (one
with both dependencies and dependents), so ``HEAD~1..HEAD`` is a one-file change.

``--kind build`` writes graphkit ``BUILD.toml`` packages of Python files;
``--kind npm`` writes the same DAG as an npm workspace (``package.json`` per
package, plus ``turbo.json`` and ``nx.json`` at the root) for turbo and nx.

The same arguments always give the same commit ids. A JSON summary goes to stdout.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

MAX_LAYERS = 8
GROUP_SIZE = 50
MAX_DEPS = 5
DEP_COUNT_WEIGHTS = (10, 25, 25, 20, 12, 8)  # P(0 deps) .. P(5 deps), for layers > 0
HUB_EXPONENT = 1.2  # weight of package i for hub picks: 1 / (i + 1) ** HUB_EXPONENT
TOOLS_SHARE = 0.15  # share of top-layer packages placed under tools/ instead of services/
TEST_SHARE = 0.5  # share of multi-file packages that get a test target
NPM_PACKAGE_MANAGER = "npm@11.19.1"
NPM_SCOPE = "@bench"
AUTHOR = ("graphkit bench", "bench@graphkit.invalid")
FIRST_COMMIT_TIME = 1_700_000_000  # fixed timestamps: same seed, same commit ids


@dataclass(frozen=True)
class Package:
    """One generated package: where it lives, what it depends on, how many files."""

    index: int
    name: str  # "pkg0123": folder basename, target name, Python module, npm name suffix
    path: str  # repo-relative folder, e.g. "libs/group02/pkg0123"
    layer: int
    deps: tuple[int, ...]  # indexes of packages in lower layers, sorted
    lib_files: int  # >= 1
    test_files: int  # 0 when the package has no test target

    @property
    def label(self) -> str:
        """The graphkit label of the package's main target."""
        return f"//{self.path}"

    @property
    def targets(self) -> int:
        """Number of targets in the package's BUILD.toml."""
        return 2 if self.test_files else 1


@dataclass(frozen=True)
class Change:
    """The edit made by the second commit."""

    package: Package
    path: str  # repo-relative path of the edited file
    content: bytes  # the file's new content


def layer_sizes(packages: int, layers: int) -> list[int]:
    """Split packages over layers, each non-empty, growing towards the top layer."""
    weights = range(1, layers + 1)
    total = sum(weights)
    rest = packages - layers
    sizes = [1 + rest * w // total for w in weights]
    sizes[-1] += packages - sum(sizes)
    return sizes


def file_counts(packages: int, files: int, rng: random.Random) -> list[int]:
    """Give every package one file, then spread the remaining files at random."""
    counts = [1] * packages
    for i in rng.choices(range(packages), k=files - packages):
        counts[i] += 1
    return counts


def choose_deps(
    rng: random.Random, below: range, lower: int, hub_weights: Sequence[float]
) -> tuple[int, ...]:
    """Pick 0-5 distinct packages among indexes < lower for a package whose layer
    sits right above the layer ``below``: half from ``below``, half hub-biased."""
    wanted = min(rng.choices(range(MAX_DEPS + 1), weights=DEP_COUNT_WEIGHTS)[0], lower)
    chosen: set[int] = set()
    attempts = 0
    while len(chosen) < wanted and attempts < 20 * MAX_DEPS:
        attempts += 1
        if rng.random() < 0.5:
            chosen.add(rng.choice(below))
        else:
            x = rng.random() * hub_weights[lower - 1]
            chosen.add(bisect.bisect_left(hub_weights, x, 0, lower))
    return tuple(sorted(chosen))


def plan_packages(packages: int, files: int, rng: random.Random) -> list[Package]:
    """Lay out the packages, their folders, deps and file counts."""
    layers = min(MAX_LAYERS, packages)
    sizes = layer_sizes(packages, layers)
    counts = file_counts(packages, files, rng)
    width = max(4, len(str(packages - 1)))
    cumulative: list[float] = []
    acc = 0.0
    for i in range(packages):
        acc += 1.0 / (i + 1) ** HUB_EXPONENT
        cumulative.append(acc)

    per_top: dict[str, int] = {}
    result: list[Package] = []
    start = 0
    for layer, size in enumerate(sizes):
        below = range(start - sizes[layer - 1], start) if layer else range(0)
        for index in range(start, start + size):
            if layers > 1 and layer == layers - 1:
                top = "tools" if rng.random() < TOOLS_SHARE else "services"
            else:
                top = "libs"
            group = per_top.get(top, 0) // GROUP_SIZE
            per_top[top] = per_top.get(top, 0) + 1
            name = f"pkg{index:0{width}d}"
            deps = choose_deps(rng, below, start, cumulative) if layer else ()
            total = counts[index]
            tests = max(1, total // 4) if total >= 2 and rng.random() < TEST_SHARE else 0
            result.append(
                Package(
                    index=index,
                    name=name,
                    path=f"{top}/group{group:02d}/{name}",
                    layer=layer,
                    deps=deps,
                    lib_files=total - tests,
                    test_files=tests,
                )
            )
        start += size
    return result


def dependents(packages: Sequence[Package]) -> list[list[int]]:
    """Direct reverse dependencies of each package."""
    rdeps: list[list[int]] = [[] for _ in packages]
    for pkg in packages:
        for dep in pkg.deps:
            rdeps[dep].append(pkg.index)
    return rdeps


def transitive_dependents(rdeps: Sequence[Sequence[int]], start: int) -> set[int]:
    """Every package that depends on start, directly or not (start excluded)."""
    seen: set[int] = set()
    stack = [start]
    while stack:
        for nxt in rdeps[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def pick_changed(
    packages: Sequence[Package], rdeps: Sequence[Sequence[int]], rng: random.Random
) -> Package:
    """A mid-level package: it has deps and dependents, sits in the middle layers when
    there are any, and has at least the median number of transitive dependents among
    those, so the change fans out like a change to a shared library does."""
    candidates = [p for p in packages if p.deps and rdeps[p.index]]
    if not candidates:
        return packages[len(packages) // 2]
    top = max(p.layer for p in candidates)
    bottom = min(p.layer for p in candidates)
    middle = [p for p in candidates if bottom < p.layer < top] or candidates
    reach = {p.index: len(transitive_dependents(rdeps, p.index)) for p in middle}
    median = sorted(reach.values())[len(reach) // 2]
    return rng.choice([p for p in middle if reach[p.index] >= median])


def last_file(files: Iterator[tuple[str, str]], prefix: str) -> tuple[str, str]:
    """The last (path, text) pair whose path starts with prefix."""
    return [(path, text) for path, text in files if path.startswith(prefix)][-1]


# --- kind "build": graphkit BUILD.toml packages of Python files ----------------------


def toml_list(items: Sequence[str]) -> str:
    """A TOML inline array of strings (the names used here need no escaping)."""
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def build_files(pkg: Package, packages: Sequence[Package], salt: int) -> Iterator[tuple[str, str]]:
    """The BUILD.toml and source files of one package, as (path, text) pairs."""
    deps = [packages[d] for d in pkg.deps]
    build = (
        "[[target]]\n"
        f'name = "{pkg.name}"\n'
        'rule = "python_library"\n'
        'srcs = ["src/**/*.py"]\n'
        f"deps = {toml_list([d.label for d in deps])}\n"
    )
    if pkg.test_files:
        build += (
            "\n[[target]]\n"
            'name = "test"\n'
            'rule = "python_test"\n'
            'srcs = ["tests/**/*.py"]\n'
            f'deps = [":{pkg.name}"]\n'
        )
    yield f"{pkg.path}/BUILD.toml", build

    src = f"{pkg.path}/src/{pkg.name}"
    imports = "".join(f"import {d.name}\n" for d in deps) + ("\n" if deps else "")
    dep_versions = ", ".join(f"{d.name}.VERSION" for d in deps)
    yield (
        f"{src}/__init__.py",
        f'"""{pkg.name}: generated benchmark package at {pkg.path}."""\n\n'
        f"{imports}"
        f'VERSION = "{pkg.index}.{salt}"\n'
        f"DEP_VERSIONS = [{dep_versions}]\n",
    )
    for k in range(1, pkg.lib_files):
        yield (
            f"{src}/mod_{k}.py",
            f'"""Module {k} of {pkg.name}."""\n\n'
            f"from {pkg.name} import VERSION\n\n\n"
            f"def f_{k}(x: int) -> int:\n"
            f'    """Shift x by a per-file constant."""\n'
            f"    return x + {salt + k}\n\n\n"
            f'LABEL = f"{{VERSION}}/{k}"\n',
        )
    for k in range(pkg.test_files):
        yield (
            f"{pkg.path}/tests/test_{pkg.name}_{k}.py",
            f"from {pkg.name} import VERSION\n\n\n"
            f"def test_version_{k}() -> None:\n"
            f'    assert VERSION.startswith("{pkg.index}.")\n',
        )


def build_root_files() -> Iterator[tuple[str, str]]:
    """Workspace files of the build kind."""
    yield (
        "graphkit.toml",
        '[workspace]\ndefault_branch = "main"\nglobal_inputs = ["tools/ci.toml"]\n',
    )
    yield "tools/ci.toml", '[ci]\npython = "3.11"\ntimeout_minutes = 30\n'


def build_change(pkg: Package, packages: Sequence[Package], salt: int) -> Change:
    """Append a line to the package's last library file."""
    path, text = last_file(build_files(pkg, packages, salt), f"{pkg.path}/src/")
    return Change(pkg, path, (text + "EDITED = True\n").encode())


# --- kind "npm": the same DAG as an npm workspace, for turbo and nx ----------------------


def npm_name(pkg: Package) -> str:
    """The npm package name of pkg."""
    return f"{NPM_SCOPE}/{pkg.name}"


def npm_files(pkg: Package, packages: Sequence[Package], salt: int) -> Iterator[tuple[str, str]]:
    """The package.json and source files of one package, as (path, text) pairs."""
    deps = [packages[d] for d in pkg.deps]
    manifest = {
        "name": npm_name(pkg),
        "version": "1.0.0",
        "private": True,
        "main": "src/index.js",
        "scripts": {"test": "echo ok"},
        "dependencies": {npm_name(d): "*" for d in deps},
    }
    yield f"{pkg.path}/package.json", json.dumps(manifest, indent=2) + "\n"
    requires = "".join(f'const dep{i} = require("{npm_name(d)}");\n' for i, d in enumerate(deps))
    dep_versions = ", ".join(f"dep{i}.VERSION" for i in range(len(deps)))
    yield (
        f"{pkg.path}/src/index.js",
        f'"use strict";\n// {pkg.name}: generated benchmark package at {pkg.path}.\n'
        f"{requires}"
        f'exports.VERSION = "{pkg.index}.{salt}";\n'
        f"exports.DEP_VERSIONS = [{dep_versions}];\n",
    )
    for k in range(1, pkg.lib_files):
        yield (
            f"{pkg.path}/src/mod_{k}.js",
            f'"use strict";\nconst {{ VERSION }} = require("./index");\n'
            f"exports.f{k} = (x) => x + {salt + k};\n"
            f"exports.LABEL = `${{VERSION}}/{k}`;\n",
        )
    for k in range(pkg.test_files):
        yield (
            f"{pkg.path}/test/{pkg.name}_{k}.test.js",
            f'"use strict";\nconst assert = require("node:assert");\n'
            f'const {{ VERSION }} = require("../src/index");\n'
            f'assert.ok(VERSION.startsWith("{pkg.index}."));\n',
        )


def npm_root_files() -> Iterator[tuple[str, str]]:
    """Workspace files of the npm kind."""
    root = {
        "name": "bench-monorepo",
        "version": "0.0.0",
        "private": True,
        "packageManager": NPM_PACKAGE_MANAGER,
        "workspaces": ["libs/*/*", "services/*/*", "tools/*/*"],
    }
    yield "package.json", json.dumps(root, indent=2) + "\n"
    turbo = {"$schema": "https://turbo.build/schema.json", "tasks": {"test": {}}}
    yield "turbo.json", json.dumps(turbo, indent=2) + "\n"
    yield "nx.json", json.dumps({"defaultBase": "main"}, indent=2) + "\n"
    yield ".gitignore", "node_modules/\n.turbo/\n.nx/\n"


def npm_change(pkg: Package, packages: Sequence[Package], salt: int) -> Change:
    """Append a line to the package's last source file."""
    path, text = last_file(npm_files(pkg, packages, salt), f"{pkg.path}/src/")
    return Change(pkg, path, (text + "exports.EDITED = true;\n").encode())


# --- writing and committing -------------------------------------------------------------


def write_files(root: Path, files: Iterator[tuple[str, str]]) -> int:
    """Write (path, text) pairs under root; return how many were written.

    Plain string paths rather than pathlib: this loop runs for every file."""
    base = os.fspath(root)
    made: set[str] = set()
    count = 0
    for rel, text in files:
        folder = os.path.dirname(rel)
        if folder and folder not in made:
            os.makedirs(os.path.join(base, folder), exist_ok=True)
            made.add(folder)
        with open(os.path.join(base, rel), "wb") as handle:
            handle.write(text.encode())
        count += 1
    return count


def commit_index(repo: pygit2.Repository, message: str, when: int) -> pygit2.Oid:
    """Commit the index on HEAD with the fixed bench signature at time when (UTC)."""
    signature = pygit2.Signature(AUTHOR[0], AUTHOR[1], when, 0)
    tree = repo.index.write_tree()
    repo.index.write()  # with the cache tree write_tree filled, as `git commit` leaves it
    parents = [] if repo.head_is_unborn else [repo.head.target]
    return repo.create_commit("HEAD", signature, signature, message, tree, parents)


def generate(out: Path, packages: int, files: int, seed: int, kind: str) -> dict[str, object]:
    """Create the repo at out and return the summary printed by main."""
    started = time.perf_counter()
    rng = random.Random(seed)
    plan = plan_packages(packages, files, rng)
    rdeps = dependents(plan)
    changed = pick_changed(plan, rdeps, rng)
    salt = rng.randrange(10**6)

    if kind == "build":
        root_files, package_files, make_change = build_root_files, build_files, build_change
    else:
        root_files, package_files, make_change = npm_root_files, npm_files, npm_change

    def all_files() -> Iterator[tuple[str, str]]:
        yield from root_files()
        for pkg in plan:
            yield from package_files(pkg, plan, salt + pkg.index * 1000)

    repo = pygit2.init_repository(str(out), initial_head="main")
    written = write_files(out, all_files())
    repo.index.add_all()
    repo.index.write()
    base = commit_index(repo, f"Generate {kind} bench repo: {packages} packages", FIRST_COMMIT_TIME)

    change = make_change(changed, plan, salt + changed.index * 1000)
    (out / change.path).write_bytes(change.content)
    repo.index.add(change.path)
    repo.index.write()
    head = commit_index(repo, f"Edit {change.path}", FIRST_COMMIT_TIME + 60)

    affected = [changed.index, *sorted(transitive_dependents(rdeps, changed.index))]
    summary: dict[str, object] = {
        "root": str(out.resolve()),
        "kind": kind,
        "seed": seed,
        "packages": packages,
        "files": written,
        "source_files": files,
        "changed_file": change.path,
        "changed_package": changed.path,
        "changed_label": changed.label,
        "affected_packages": len(affected),
    }
    if kind == "build":
        summary["affected_targets"] = sum(plan[i].targets for i in affected)
    else:
        summary["changed_npm_name"] = npm_name(changed)
    summary.update(base=str(base), head=str(head), seconds=round(time.perf_counter() - started, 3))
    return summary


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse and check the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="where to create the repo (new or empty)")
    parser.add_argument("--packages", type=int, default=5000, help="number of packages")
    parser.add_argument("--files", type=int, default=20000, help="number of source files")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--kind", choices=("build", "npm"), default="build")
    args = parser.parse_args(argv)
    if args.packages < 1:
        parser.error("--packages must be at least 1")
    if args.files < args.packages:
        parser.error("--files must be at least --packages (every package has a file)")
    if args.out_dir.exists() and any(args.out_dir.iterdir()):
        parser.error(f"{args.out_dir} exists and is not empty")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: generate the repo, print the JSON summary."""
    args = parse_args(argv)
    summary = generate(args.out_dir, args.packages, args.files, args.seed, args.kind)
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
