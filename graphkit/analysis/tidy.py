"""Dependency drift: imports that cross into a target the declared deps do not reach.

The graph already depends on what imports need (``graphkit.analysis.inferred``); ``tidy``
makes the manifests say so. ``find_drift`` names, per target, the inferred deps its
declared deps do not cover (transitively). ``add_deps`` writes the missing labels
into a ``BUILD.toml`` by replacing only that target's ``deps`` line (serialized with
tomli-w), so comments, other targets and other fields stay exactly as they were.
An ambiguous import is reported, never written: that would be a guess.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import tomli_w

from graphkit.analysis.graph import BuildGraph
from graphkit.errors import InputError
from graphkit.labels import Label
from graphkit.readers.infer.resolve import Problem
from graphkit.readers.manifests.build_toml import BUILD_FILE


@dataclass(frozen=True)
class Drift:
    """Missing deps per target (with one import that needs each), and unreadable imports."""

    missing: Mapping[Label, Mapping[Label, str]]  # target -> {missing dep: "file:line imports x"}
    problems: tuple[Problem, ...]

    @property
    def clean(self) -> bool:
        """True when every cross-target import is covered by a declared dependency."""
        return not self.missing


def find_drift(graph: BuildGraph, problems: Iterable[Problem]) -> Drift:
    """The deps imports add to ``graph`` that no declared dep covers, even transitively."""
    missing: dict[Label, dict[Label, str]] = {}
    for label, deps in sorted(graph.inferred.items()):
        declared = declared_closure(graph, label)
        needed = {dep: str(via) for dep, via in deps.items() if not via.ambiguous}
        needed = {dep: why for dep, why in needed.items() if dep not in declared}
        if needed:
            missing[label] = dict(sorted(needed.items()))
    return Drift(missing, tuple(problems))


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
    import tomllib

    body = "".join(line for line in block if not _TARGET.match(line))
    try:
        current = tomllib.loads(body).get("deps", [])
    except tomllib.TOMLDecodeError as exc:
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

    Targets from ecosystem manifests are reported only, and a dep that would close a
    cycle (the imported target already depends on the importer) is never written.
    """
    edits: dict[str, dict[str, list[str]]] = {}
    for label, needed in drift.missing.items():
        target = graph.targets[label]
        if not target.manifest.endswith(BUILD_FILE):
            continue
        names = [
            _relative(label, dep) for dep in needed if label not in declared_closure(graph, dep)
        ]
        if names:
            edits.setdefault(target.manifest, {})[label.name] = names
    return edits


def _relative(owner: Label, dep: Label) -> str:
    return f":{dep.name}" if dep.package == owner.package else str(dep)
