"""All ecosystem readers at once: which files they read, and their packages merged.

``BUILD.toml`` wins in its folder (the caller drops ecosystem packages there). When
two ecosystems declare the same folder (a ``package.json`` beside a ``Cargo.toml``),
the first reader's target stays and takes the other's deps, aliases and attributes,
so no dependency edge is lost; a dep stays test-only only when neither manifest lets
it carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from graphkit.errors import InputWarning
from graphkit.labels import Label
from graphkit.model import EDGE_KINDS, EdgeKind, Package
from graphkit.readers.manifests import rootconfig

# The file names the readers' MANIFESTS declare, spelled out so that finding manifests
# does not import the readers (and PyYAML, packaging): only parsing them does.
# tests/readers/manifests/test_ecosystems.py checks the two agree. Besides the
# manifests, the readers read the root configuration files (see rootconfig).
MANIFEST_NAMES = frozenset(
    {
        "package.json",
        "pnpm-workspace.yaml",
        "pyproject.toml",
        "uv.lock",
        "Cargo.toml",
        "go.mod",
        "go.work",
        *rootconfig.CARGO_FILES,
        *rootconfig.NPM_FILES,
        *rootconfig.GO_FILES,
        *rootconfig.PYTHON_FILES,
    }
)
# Folders that hold installed or generated copies of packages, never workspace members.
SKIPPED_FOLDERS = frozenset({"node_modules", "target", ".venv", "venv", "vendor", ".git"})


def is_manifest(path: str) -> bool:
    """True for a file some ecosystem reader reads (outside installed-package folders)."""
    parts = path.split("/")
    named = parts[-1] in MANIFEST_NAMES or "/".join(parts[-2:]) in MANIFEST_NAMES
    return named and not SKIPPED_FOLDERS.intersection(parts[:-1])


def read_all(files: Mapping[str, bytes]) -> tuple[dict[str, Package], list[InputWarning]]:
    """Every ecosystem package by folder, from ``{path: bytes}`` of the manifests, and
    the warnings for the manifests the readers skipped (stray files outside any
    workspace that cannot be read)."""
    from graphkit.readers.manifests import cargo, go, npm, python

    merged: dict[str, Package] = {}
    warnings: list[InputWarning] = []
    for reader in (npm, cargo, go, python):
        wanted = {p: d for p, d in files.items() if rootconfig.matches(p, reader.MANIFESTS)}
        if not wanted:
            continue
        found = reader.read_workspace(wanted)
        warnings += found.warnings
        for package in found.packages:
            first = merged.get(package.path)
            merged[package.path] = package if first is None else _merge(first, package)
    return merged, warnings


def _merge(first: Package, other: Package) -> Package:
    (kept,), (extra,) = first.targets, other.targets
    attrs = dict(kept.attrs)
    attrs.update((f"{extra.rule}.{name}", value) for name, value in extra.attrs)
    deps = set(kept.deps) | set(extra.deps)
    kinds: dict[Label, EdgeKind] = {}
    for target in (kept, extra):
        for dep in target.deps:
            kind = target.kind_of(dep)
            if dep not in kinds or EDGE_KINDS.index(kind) < EDGE_KINDS.index(kinds[dep]):
                kinds[dep] = kind
    carried = {d for t in (kept, extra) for d in t.deps if d not in t.test_deps}
    target = replace(
        kept,
        deps=tuple(sorted(deps)),
        dep_kinds=tuple(sorted((d, k) for d, k in kinds.items() if k != "normal")),
        test_deps=tuple(sorted(deps - carried)),
        aliases=tuple(sorted(set(kept.aliases) | set(extra.aliases))),
        attrs=tuple(sorted(attrs.items())),
    )
    return replace(first, targets=(target,))
