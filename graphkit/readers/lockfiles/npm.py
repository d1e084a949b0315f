"""npm ``package-lock.json`` (lockfileVersion 2 and 3) -> Lock.

Only the ``packages`` section is read; it is keyed by install location:
``""`` is the root project, ``packages/a`` a workspace member (or another local
folder), ``node_modules/lodash`` a hoisted install, ``node_modules/a/node_modules/b``
or ``packages/a/node_modules/b`` a nested one. A workspace member is also linked
into ``node_modules``: ``"node_modules/a": {"resolved": "packages/a", "link": true}``.

A dependency named in an entry is found as Node finds it at run time: in the
entry's own ``node_modules``, then in each enclosing folder's ``node_modules`` up to
the root. ``dependencies``, ``optionalDependencies`` and ``peerDependencies`` (npm 7+
installs peers) are followed; ``devDependencies`` only for the member whose closure
is being computed. A dependency that is not installed (an optional one for another
platform, an optional peer) is skipped, as npm skips it.

Every location outside ``node_modules`` is keyed as a member, by its repo-relative
folder; folders that are not workspace members (``file:`` dependencies) are harmless
extra keys. lockfileVersion 1 (npm 6) has no ``packages`` section and is rejected, so
the caller treats every npm member as affected.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from graphkit.errors import InputError
from graphkit.readers.lockfiles.model import (
    DepGraph,
    Lock,
    Resolved,
    expect_mapping,
    line_containing,
    load_json_object,
    member_folder,
)

ECOSYSTEM = "npm"
_RUNTIME_FIELDS = ("dependencies", "optionalDependencies", "peerDependencies")
_NODE_MODULES = "node_modules/"


def parse(data: bytes, path: str) -> Lock:
    """Parse a ``package-lock.json`` (v2 or v3) into each member's external closure.

    Raises InputError naming ``path`` (and the line where there is one) for invalid
    JSON, an unsupported lockfileVersion, or a field of the wrong type.
    """
    doc = load_json_object(data, path)
    version = doc.get("lockfileVersion")
    if version not in (2, 3):
        raise InputError(
            f"unsupported lockfileVersion {version!r} (expected 2 or 3)",
            path=path,
            line=line_containing(data, '"lockfileVersion"'),
            hint="run npm install with npm 7 or newer",
        )
    packages = expect_mapping(
        doc.get("packages"), '"packages"', path=path, line=line_containing(data, '"packages"')
    )
    return _Reader(packages, data, path).graph().lock(path, ECOSYSTEM)


class _Reader:
    """Turns the ``packages`` section into a DepGraph keyed by install location."""

    def __init__(self, packages: dict[str, Any], data: bytes, path: str) -> None:
        self.packages = packages
        self.data = data
        self.path = path

    def graph(self) -> DepGraph[str]:
        """Edges, externals and members of the whole ``packages`` section."""
        edges: dict[str, tuple[str, ...]] = {}
        external: dict[str, Resolved] = {}
        members: dict[str, tuple[str, ...]] = {}
        owned: dict[str, str] = {}
        for location, raw in self.packages.items():
            entry = self._mapping(raw, location, location, None)
            if entry.get("link"):
                # A link's own fields say nothing about dependencies: its target does.
                target = entry.get("resolved")
                edges[location] = (target,) if target in self.packages else ()
                continue
            edges[location] = self._deps(location, entry, _RUNTIME_FIELDS)
            if _is_local(location):
                fields = (*_RUNTIME_FIELDS, "devDependencies")
                members[member_folder(self.path, location)] = self._deps(location, entry, fields)
                owned[location] = member_folder(self.path, location)
            else:
                external[location] = _resolved(location, entry)
        return DepGraph(edges, external, members, owned)

    def _deps(
        self, location: str, entry: dict[str, Any], fields: tuple[str, ...]
    ) -> tuple[str, ...]:
        """The installed locations of the dependencies ``entry`` declares in ``fields``."""
        found: list[str] = []
        for name_field in fields:
            what = f"{name_field} of {location or 'the root'}"
            declared = self._mapping(entry.get(name_field, {}), what, location, name_field)
            for name in declared:
                target = self._find(location, name)
                if target is not None:
                    found.append(target)
        return tuple(found)

    def _find(self, location: str, name: str) -> str | None:
        """Where Node's resolution finds ``name`` when required from ``location``."""
        folder = location
        while True:
            candidate = posixpath.join(folder, "node_modules", name)
            if candidate in self.packages:
                return candidate
            if not folder:
                return None
            folder = posixpath.dirname(folder)

    def _mapping(self, value: object, what: str, location: str, key: str | None) -> dict[str, Any]:
        """``value`` as a mapping, or an InputError at ``location``'s ``key`` line."""
        if isinstance(value, dict):
            return value
        line = line_containing(self.data, json.dumps(location) + ":")
        if key is not None and line is not None:
            line = line_containing(self.data, json.dumps(key) + ":", start=line) or line
        return expect_mapping(value, what, path=self.path, line=line)


def _is_local(location: str) -> bool:
    """True for a folder of the repository, False for anything installed by npm."""
    return not (location.startswith(_NODE_MODULES) or f"/{_NODE_MODULES}" in location)


def _resolved(location: str, entry: dict[str, Any]) -> Resolved:
    """The Resolved package installed at ``location``.

    The name comes from ``name`` when present (an alias ``"x": "npm:y@1"`` installs
    ``y`` at ``node_modules/x``), else from the location. Without ``integrity`` (git
    and tarball-URL dependencies) the ``resolved`` URL, which pins the commit, stands in.
    """
    name = entry.get("name") or location.rsplit(_NODE_MODULES, 1)[-1]
    integrity = entry.get("integrity") or entry.get("resolved")
    return Resolved(str(name), str(entry.get("version", "")), integrity and str(integrity))
