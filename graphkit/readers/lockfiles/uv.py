"""uv ``uv.lock`` (TOML, ``version = 1``) -> Lock.

Each ``[[package]]`` has ``name``, ``version`` (absent for a member with a dynamic
version), ``source`` and ``dependencies = [{ name = "x", extra = [...], version = ...,
source = ... }]`` (``version``/``source`` appear only when a name has several
entries, as in a forked resolution); ``[package.optional-dependencies]`` maps an extra
to more such lists and ``[package.dev-dependencies]`` a dependency group.

Members are the packages built from a folder of the repository:
``source = { editable = "packages/a" }`` (workspace members, editable path
dependencies), ``{ virtual = "." }`` (a root that is not a package) and
``{ directory = "..." }``, keyed by their folder made repo-relative. A member's
closure follows its dependencies, all its extras and all its dependency groups;
a package reached through a dependency brings its base dependencies plus the extras
that the dependency asks for. Externals carry their artifacts' hashes (sdist and
wheels), or their git/URL source where there is no hash. Markers are ignored: a
dependency for another platform still counts (more affected, never fewer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphkit.errors import InputError
from graphkit.readers.lockfiles.model import (
    DepGraph,
    Lock,
    Resolved,
    member_folder,
    package_array,
    table_line,
)
from graphkit.tomldoc import load_toml

ECOSYSTEM = "python"
_LOCAL_SOURCES = ("editable", "virtual", "directory", "workspace")
# A node is a package (its index in [[package]]) with one extra, "" for its base.
Node = tuple[int, str]


def parse(data: bytes, path: str) -> Lock:
    """Parse a ``uv.lock`` into each member's external closure.

    Raises InputError naming ``path`` and the line for invalid TOML, or a package
    table with a missing name or a field of the wrong type.
    """
    doc = load_toml(data, path)
    raw = package_array(doc, data, path)
    packages = [_check(entry, index, data, path) for index, entry in enumerate(raw)]
    return _Reader(packages, data, path).graph().lock(path, ECOSYSTEM)


class _Reader:
    """Turns the ``[[package]]`` tables into a DepGraph of (package, extra) nodes."""

    def __init__(self, packages: list[dict[str, Any]], data: bytes, path: str) -> None:
        self.packages = packages
        self.data = data
        self.path = path
        self.by_name: dict[str, list[int]] = {}
        for index, package in enumerate(packages):
            self.by_name.setdefault(package["name"], []).append(index)

    def graph(self) -> DepGraph[Node]:
        """Edges, externals and members of the whole lockfile."""
        edges: dict[Node, tuple[Node, ...]] = {}
        external: dict[Node, Resolved] = {}
        members: dict[str, tuple[Node, ...]] = {}
        owned: dict[Node, str] = {}
        for index, package in enumerate(self.packages):
            edges[(index, "")] = self._refs(package.get("dependencies", []), index)
            extras = self._groups(package, "optional-dependencies", index)
            for extra, deps in extras.items():
                edges[(index, extra)] = ((index, ""), *self._refs(deps, index))
            source = package.get("source", {})
            local = next((kind for kind in _LOCAL_SOURCES if kind in source), None)
            if local is None:
                external[(index, "")] = _resolved(package)
                continue
            groups = self._groups(package, "dev-dependencies", index)
            direct = [(index, "")] + [(index, extra) for extra in extras]
            direct += [node for deps in groups.values() for node in self._refs(deps, index)]
            place = source[local]
            key = member_folder(self.path, place) if isinstance(place, str) else package["name"]
            members[key] = (*members.get(key, ()), *direct)
            owned.update((node, key) for node in [(index, ""), *((index, e) for e in extras)])
        return DepGraph(edges, external, members, owned)

    def _refs(self, deps: object, index: int) -> tuple[Node, ...]:
        """The nodes a list of ``{ name = ..., extra = [...] }`` dependencies names."""
        if not isinstance(deps, list) or not all(isinstance(dep, dict) for dep in deps):
            raise self._error("dependencies must be an array of inline tables", index)
        found: list[Node] = []
        for dep in deps:
            # version and source disambiguate a name with several entries; with
            # neither, every entry of the name counts.
            for target in self.by_name.get(str(dep.get("name")), []):
                candidate = self.packages[target]
                if any(k in dep and dep[k] != candidate.get(k) for k in ("version", "source")):
                    continue
                found.append((target, ""))
                found.extend((target, str(extra)) for extra in dep.get("extra", []))
        return tuple(found)

    def _groups(self, package: dict[str, Any], table: str, index: int) -> Mapping[str, object]:
        groups = package.get(table, {})
        if not isinstance(groups, dict):
            raise self._error(f"'{table}' must be a table", index)
        return groups

    def _error(self, message: str, index: int) -> InputError:
        name = self.packages[index]["name"]
        return InputError(
            f"package {name!r}: {message}",
            path=self.path,
            line=table_line(self.data, "package", index),
        )


def _check(entry: object, index: int, data: bytes, path: str) -> dict[str, Any]:
    """``entry`` if it is a package table with a name and a table source."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise InputError(
            "package without a 'name'", path=path, line=table_line(data, "package", index)
        )
    if not isinstance(entry.get("source", {}), dict):
        raise InputError(
            f"package {entry['name']!r}: 'source' must be a table",
            path=path,
            line=table_line(data, "package", index),
        )
    return entry


def _resolved(package: dict[str, Any]) -> Resolved:
    """The Resolved external: every artifact hash, else its exact source (git, URL, path)."""
    artifacts = [package.get("sdist", {}), *package.get("wheels", [])]
    hashes = sorted(str(a["hash"]) for a in artifacts if isinstance(a, dict) and "hash" in a)
    source = package.get("source", {})
    if hashes:
        integrity: str | None = " ".join(hashes)
    else:
        integrity = next((str(v) for k, v in sorted(source.items()) if k != "registry"), None)
    return Resolved(package["name"], str(package.get("version", "")), integrity)
