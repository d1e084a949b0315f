"""Cargo ``Cargo.lock`` (TOML, format versions 1 to 4) -> Lock.

Each ``[[package]]`` has ``name``, ``version``, and for a crate from a registry or git
``source`` (``registry+https://...``, ``git+https://...?rev=x#<commit>``) and, for
registry crates, ``checksum`` (format 1 keeps checksums in ``[metadata]`` instead).
``dependencies`` lists ``"name"``, or ``"name version"`` when several versions are
locked, or ``"name version (source)"`` when several sources are.

Members are the crates without a ``source``: workspace members and path
dependencies, keyed by **crate name** (Cargo.lock records no folders; the caller maps
names to folders through the Cargo.toml manifests). Cargo.lock does not tell normal,
build and dev dependencies apart, so a member reached through another member brings
its dev dependencies along (more affected, never fewer). Git crates have no checksum;
their source, which pins the commit, stands in.
"""

from __future__ import annotations

from typing import Any

from graphkit.errors import InputError
from graphkit.readers.lockfiles.model import DepGraph, Lock, Resolved, package_array, table_line
from graphkit.tomldoc import load_toml

ECOSYSTEM = "cargo"


def parse(data: bytes, path: str) -> Lock:
    """Parse a ``Cargo.lock`` into each workspace crate's external closure, keyed by name.

    Raises InputError naming ``path`` and the line for invalid TOML, a package without
    a name or version, or a dependency entry of the wrong type.
    """
    doc = load_toml(data, path)
    raw = package_array(doc, data, path)
    packages = [_check(entry, index, data, path) for index, entry in enumerate(raw)]
    metadata = doc.get("metadata", {})
    by_name: dict[str, list[int]] = {}
    for index, package in enumerate(packages):
        by_name.setdefault(package["name"], []).append(index)
    edges: dict[int, tuple[int, ...]] = {}
    external: dict[int, Resolved] = {}
    members: dict[str, tuple[int, ...]] = {}
    owned: dict[int, str] = {}
    for index, package in enumerate(packages):
        edges[index] = tuple(
            target
            for dep in package.get("dependencies", [])
            for target in _targets(dep, packages, by_name)
        )
        if "source" in package:
            external[index] = _resolved(package, metadata)
        else:
            # Two local crates with one name (a path dependency outside the workspace)
            # share the key; their closures are merged.
            name = package["name"]
            members[name] = (*members.get(name, ()), *edges[index])
            owned[index] = name
    return DepGraph(edges, external, members, owned).lock(path, ECOSYSTEM)


def _targets(dep: str, packages: list[dict[str, Any]], by_name: dict[str, list[int]]) -> list[int]:
    """The packages ``"name [version [(source)]]"`` names; every candidate if ambiguous."""
    name, _, rest = dep.partition(" ")
    version, _, source = rest.partition(" ")
    source = source.removeprefix("(").removesuffix(")")
    return [
        index
        for index in by_name.get(name, [])
        if (not version or packages[index].get("version") == version)
        and (not source or packages[index].get("source") == source)
    ]


def _check(entry: object, index: int, data: bytes, path: str) -> dict[str, Any]:
    """``entry`` if it is a package table with a name, a version and string dependencies."""
    line = table_line(data, "package", index)
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise InputError("package without a 'name'", path=path, line=line)
    name = entry["name"]
    if not isinstance(entry.get("version"), str):
        raise InputError(f"package {name!r} has no 'version'", path=path, line=line)
    deps = entry.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(dep, str) for dep in deps):
        raise InputError(
            f"package {name!r}: 'dependencies' must be an array of strings", path=path, line=line
        )
    return entry


def _resolved(package: dict[str, Any], metadata: object) -> Resolved:
    """The Resolved crate: its checksum, from ``[metadata]`` in format 1, else its source."""
    name, version, source = package["name"], package["version"], package["source"]
    checksum = package.get("checksum")
    if checksum is None and isinstance(metadata, dict):
        checksum = metadata.get(f"checksum {name} {version} ({source})")
    if checksum == "<none>":
        checksum = None
    return Resolved(name, version, str(checksum or source))
