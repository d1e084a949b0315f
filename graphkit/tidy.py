"""Dependency drift: imports that cross into a target the importer does not depend on.

``find_drift`` reads the sources of every target whose rule infers imports (Python,
JS/TS), resolves
each import to a repo file, and names the targets owning those files that are not
already among the importer's dependencies (transitively). ``add_deps`` writes the
missing labels into a ``BUILD.toml`` by replacing only that target's ``deps`` line
(serialized with tomli-w), so comments, other targets and other fields stay exactly
as they were.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import tomli_w

from graphkit.errors import InputError
from graphkit.graph import BuildGraph
from graphkit.infer.js import CONFIG_NAMES
from graphkit.infer.js_resolve import JsResolver
from graphkit.infer.python import PythonResolver, default_roots
from graphkit.infer.resolve import Problem, Resolver, edges
from graphkit.labels import Label
from graphkit.manifests.build_toml import BUILD_FILE
from graphkit.model import FileEntry, Snapshot

Read = Callable[[str, FileEntry], bytes]


@dataclass(frozen=True)
class Drift:
    """Missing deps per target (with one import that needs each), and unreadable imports."""

    missing: Mapping[Label, Mapping[Label, str]]  # target -> {missing dep: "file:line imports x"}
    problems: tuple[Problem, ...]

    @property
    def clean(self) -> bool:
        """True when every cross-target import is covered by a declared dependency."""
        return not self.missing


def find_drift(graph: BuildGraph, snapshot: Snapshot, read: Read) -> Drift:
    """Imports of inferring targets that reach targets outside their dependencies."""
    inputs = graph.inputs(snapshot)
    missing: dict[Label, dict[Label, str]] = {}
    problems: list[Problem] = []
    for language, resolver in _resolvers(graph, snapshot, read):
        owner_of = {
            path: label
            for label, files in inputs.items()
            if language in graph.rule_of(label).infer
            for path in files
            if path.endswith(resolver.suffixes)
        }
        found = edges({p: read(p, snapshot[p]) for p in owner_of}, resolver)
        problems += found.problems
        for edge in found.edges:
            importer, owners = owner_of[edge.importer], graph.owners(edge.imported)
            if not owners or importer in owners:
                continue
            if set(graph.deps(importer, transitive=True)).intersection(owners):
                continue
            # Several targets may own the file (unclaimed files): one of them is enough.
            why = f"{edge.importer}:{edge.line} imports {edge.imported}"
            missing.setdefault(importer, {}).setdefault(min(owners), why)
    return Drift({k: dict(sorted(v.items())) for k, v in sorted(missing.items())}, tuple(problems))


def _resolvers(graph: BuildGraph, snapshot: Snapshot, read: Read) -> list[tuple[str, Resolver]]:
    """A resolver per language some rule infers, indexed over the whole snapshot."""
    wanted = {language for rule in graph.rules.values() for language in rule.infer}
    found: list[tuple[str, Resolver]] = []
    if "python" in wanted:
        python_files = [p for p in snapshot if p.endswith(".py")]
        found.append(("python", PythonResolver(python_files, default_roots(snapshot))))
    if "js" in wanted:
        configs = {
            p: read(p, e) for p, e in snapshot.items() if p.rsplit("/", 1)[-1] in CONFIG_NAMES
        }
        names = {
            alias: target.label.package
            for target in graph.targets.values()
            if target.rule == "npm_package"
            for alias in target.aliases
        }
        manifests = {
            path: read(path, snapshot[path])
            for folder in set(names.values())
            if (path := f"{folder}/package.json" if folder else "package.json") in snapshot
        }
        found.append(("js", JsResolver(snapshot, configs, names, manifests)))
    return found


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
            _relative(label, dep) for dep in needed if label not in graph.deps(dep, transitive=True)
        ]
        if names:
            edits.setdefault(target.manifest, {})[label.name] = names
    return edits


def _relative(owner: Label, dep: Label) -> str:
    return f":{dep.name}" if dep.package == owner.package else str(dep)
