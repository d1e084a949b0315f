"""Dependency drift: imports that cross into a target the declared deps do not reach.

The graph already depends on what imports need (``graphkit.analysis.inferred``); ``tidy``
makes the manifests say so. ``find_drift`` names, per target, the inferred deps its
declared deps do not cover (transitively). ``add_deps`` writes the missing labels
into a ``BUILD.toml`` by replacing only that target's ``deps`` line (serialized with
tomli-w), so comments, other targets and other fields stay exactly as they were.
Ecosystem manifests (package.json, pyproject.toml, Cargo.toml) are not rewritten:
``hand_edits`` names the exact line to add to each. An ambiguous import is reported,
never written: that would be a guess. A dep that would close a cycle is never suggested.
"""

from __future__ import annotations

import itertools
import json
import posixpath
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import tomli_w

from graphkit.analysis.graph import BuildGraph
from graphkit.errors import InputError
from graphkit.labels import Label
from graphkit.model import Target
from graphkit.readers.infer.resolve import Problem
from graphkit.readers.manifests.build_toml import BUILD_FILE


@dataclass(frozen=True)
class Drift:
    """Missing deps per target (with one import that needs each), and unreadable imports."""

    missing: Mapping[Label, Mapping[Label, str]]  # target -> {missing dep: "file:line imports x"}
    problems: tuple[Problem, ...]
    # Imports of a target that already depends on the importer: declaring them would
    # close a cycle, so they are noted, never suggested.
    cycles: Mapping[Label, Mapping[Label, str]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """True when every cross-target import is covered by a declared dependency."""
        return not self.missing


def find_drift(graph: BuildGraph, problems: Iterable[Problem]) -> Drift:
    """The deps imports add to ``graph`` that no declared dep covers, even transitively;
    those that would close a cycle apart."""
    missing: dict[Label, dict[Label, str]] = {}
    cycles: dict[Label, dict[Label, str]] = {}
    for label, deps in sorted(graph.inferred.items()):
        declared = declared_closure(graph, label)
        for dep, via in sorted(deps.items()):
            if via.ambiguous or dep in declared:
                continue
            closes = label in declared_closure(graph, dep)
            (cycles if closes else missing).setdefault(label, {})[dep] = str(via)
    return Drift(missing, tuple(problems), cycles)


def declared_closure(graph: BuildGraph, label: Label) -> set[Label]:
    """Everything ``label`` depends on through declared deps alone."""
    seen: set[Label] = set()
    stack = list(graph.targets[label].deps)
    while stack:
        dep = stack.pop()
        if dep not in seen:
            seen.add(dep)
            stack.extend(graph.targets[dep].deps)
    return seen


_TARGET = re.compile(r"^\s*\[\[\s*target\s*\]\]\s*(#.*)?$")
_NAME = re.compile(r"^\s*name\s*=\s*(['\"])(?P<name>[^'\"]+)\1")
_DEPS = re.compile(r"^\s*deps\s*=")


def add_deps(text: str, manifest: str, additions: Mapping[str, Sequence[str]]) -> str:
    """``BUILD.toml`` text with labels added to named targets' ``deps``; nothing else moves.

    ``additions`` maps target name -> labels to add. A target's existing ``deps``
    (which may span lines) is replaced by one tomli-w line holding the old and new
    labels; a target without ``deps`` gets the line after its ``name``.
    """
    lines = text.splitlines(keepends=True)
    blocks = [i for i, line in enumerate(lines) if _TARGET.match(line)] + [len(lines)]
    for start, end in reversed(list(itertools.pairwise(blocks))):
        name = next((m["name"] for line in lines[start:end] if (m := _NAME.match(line))), None)
        if name is None or name not in additions:
            continue
        lines[start:end] = _with_deps(lines[start:end], additions[name], manifest)
    return "".join(lines)


def _with_deps(block: list[str], labels: Sequence[str], manifest: str) -> list[str]:
    import tomli

    body = "".join(line for line in block if not _TARGET.match(line))
    try:
        current = tomli.loads(body).get("deps", [])
    except tomli.TOMLDecodeError as exc:
        raise InputError(f"cannot edit: {exc}", path=manifest) from None
    deps = tomli_w.dumps({"deps": sorted(set(current) | set(labels))})
    first = next((i for i, line in enumerate(block) if _DEPS.match(line)), None)
    if first is None:
        at = next(i for i, line in enumerate(block) if _NAME.match(line)) + 1
        return [*block[:at], deps, *block[at:]]
    last = first
    while "]" not in block[last].split("#", 1)[0] and last + 1 < len(block):
        last += 1
    return [*block[:first], deps, *block[last + 1 :]]


def manifest_edits(graph: BuildGraph, drift: Drift) -> dict[str, dict[str, list[str]]]:
    """{BUILD.toml path: {target name: labels to add}} for targets declared in BUILD.toml.

    Targets from ecosystem manifests are left to ``hand_edits``.
    """
    edits: dict[str, dict[str, list[str]]] = {}
    for label, needed in drift.missing.items():
        target = graph.targets[label]
        if target.manifest.endswith(BUILD_FILE):
            names = [_relative(label, dep) for dep in needed]
            edits.setdefault(target.manifest, {})[label.name] = names
    return edits


@dataclass(frozen=True)
class HandEdit:
    """A missing dep in an ecosystem manifest, which graphkit reports but never rewrites."""

    target: Label
    dep: Label
    manifest: str
    add: str  # the exact line to add and where, or why no line can say it


def hand_edits(graph: BuildGraph, drift: Drift, files: Collection[str]) -> tuple[HandEdit, ...]:
    """The missing deps of targets read from package.json, pyproject.toml or Cargo.toml,
    each with the line to add. ``files`` (the snapshot's paths) tells the package manager."""
    found = []
    for label, needed in drift.missing.items():
        manifest = graph.targets[label].manifest
        if manifest.endswith(BUILD_FILE):
            continue
        for dep in needed:
            add = _line_to_add(manifest, graph.targets[dep], label, files)
            found.append(HandEdit(label, dep, manifest, add))
    return tuple(found)


def _line_to_add(manifest: str, dep: Target, owner: Label, files: Collection[str]) -> str:
    kind = posixpath.basename(manifest)
    if posixpath.basename(dep.manifest) != kind or not dep.aliases:
        return f"no {kind} line can name {dep.label} (declared in {dep.manifest})"
    name = dep.aliases[0]
    if kind == "package.json":
        # pnpm, yarn berry and bun link a workspace package only through `workspace:`;
        # npm does not know that protocol and links any matching version instead.
        berry = ".yarnrc.yml" in files
        spec = "workspace:*" if "pnpm-workspace.yaml" in files or berry else "*"
        return f'add {json.dumps(name)}: "{spec}" to "dependencies"'
    if kind == "pyproject.toml":
        line = f"add {json.dumps(name)} to [project] dependencies"
        if "uv.lock" in files:  # a uv workspace member is linked only through its source
            line += f" and {name} = {{ workspace = true }} to [tool.uv.sources]"
        return line
    if kind == "Cargo.toml":
        path = posixpath.relpath(dep.label.package or ".", owner.package or ".")
        return f"add {name} = {{ path = {json.dumps(path)} }} to [dependencies]"
    return f"declare {name} ({dep.label}) as a dependency"


def _relative(owner: Label, dep: Label) -> str:
    return f":{dep.name}" if dep.package == owner.package else str(dep)
