"""pnpm ``pnpm-lock.yaml`` (lockfileVersion 6 and 9) -> Lock.

Both versions key members under ``importers`` by folder, relative to the lockfile
(``.`` is the root), each with ``dependencies`` / ``devDependencies`` /
``optionalDependencies`` mapping a name to ``{specifier, version}``. The version is
a reference into the package table: ``18.2.0``, ``1.0.0(react@18.2.0)`` (a peer
suffix: one copy of the package per set of peers), an alias ``string-width@4.2.3``,
or ``link:../b`` for another workspace folder.

- v6 (pnpm 8): ``packages`` keyed ``/name@1.0.0(peers)`` holds resolutions and
  dependencies together. A single-project v6 lockfile has no ``importers``; its
  dependency fields sit at the top level.
- v9 (pnpm 9, 10): ``packages`` keyed ``name@1.0.0`` holds resolutions, and
  ``snapshots`` keyed ``name@1.0.0(peers)`` the dependencies.

When pnpm 10 writes its config dependencies into the lockfile as a leading YAML
document, the last document is the lockfile proper. Versions 5.x and older
(``/name/1.0.0_peer`` keys) are rejected, so the caller treats every member as
affected.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from graphkit.errors import InputError
from graphkit.readers.lockfiles.model import (
    DepGraph,
    Lock,
    Resolved,
    expect_mapping,
    line_containing,
    load_yaml_documents,
    member_folder,
)

ECOSYSTEM = "npm"
_RUNTIME_FIELDS = ("dependencies", "optionalDependencies")
_MEMBER_FIELDS = (*_RUNTIME_FIELDS, "devDependencies")
_SUPPORTED = ("6", "7", "8", "9")
# Importer nodes share the graph with package keys, which never contain a NUL.
_IMPORTER = "\0importer:"


def parse(data: bytes, path: str) -> Lock:
    """Parse a ``pnpm-lock.yaml`` (v6 or v9) into each member's external closure.

    Raises InputError naming ``path`` (and the line where there is one) for invalid
    YAML, an unsupported lockfileVersion, or a section of the wrong shape.
    """
    documents = load_yaml_documents(data, path)
    doc = expect_mapping(documents[-1] if documents else None, "the lockfile", path=path, line=1)
    version = str(doc.get("lockfileVersion", "")).strip("'\"").split(".")[0]
    if version not in _SUPPORTED:
        raise InputError(
            f"unsupported lockfileVersion {doc.get('lockfileVersion')!r} (expected 6.0 or 9.0)",
            path=path,
            line=line_containing(data, "lockfileVersion"),
            hint="run pnpm install with pnpm 8 or newer",
        )
    return _Reader(doc, data, path).graph().lock(path, ECOSYSTEM)


def _installed_from(path: str) -> str:
    """The lockfile ``path`` as if it lay where pnpm installs, which its importer folders
    are relative to: where it is, except in a Rush repository, which keeps it in
    ``common/config/rush/`` (a subspace's in ``common/config/subspaces/<name>/``) and
    runs pnpm in ``common/temp/`` (``common/temp/<name>/``)."""
    parts = path.split("/")
    if len(parts) == 4 and parts[:3] == ["common", "config", "rush"]:
        return f"common/temp/{parts[3]}"
    if len(parts) == 5 and parts[:3] == ["common", "config", "subspaces"]:
        return f"common/temp/{parts[3]}/{parts[4]}"
    return path


class _Reader:
    """Turns importers, packages and snapshots into a DepGraph."""

    def __init__(self, doc: dict[str, Any], data: bytes, path: str) -> None:
        self.data = data
        self.path = path
        self.packages = self._section(doc, "packages")
        # v9 splits dependencies out into snapshots; v6 keeps them in packages.
        self.node_section = "snapshots" if "snapshots" in doc else "packages"
        self.nodes = self._section(doc, self.node_section)
        has_importers = "importers" in doc
        self.importers = self._section(doc, "importers") if has_importers else {".": doc}

    def graph(self) -> DepGraph[str]:
        """Edges, externals and members of the whole lockfile."""
        edges: dict[str, tuple[str, ...]] = {}
        external: dict[str, Resolved] = {}
        members: dict[str, tuple[str, ...]] = {}
        owned: dict[str, str] = {}
        for key, raw in self.nodes.items():
            entry = self._mapping(raw, f"package {key!r}", key, self.node_section)
            edges[key] = self._refs(entry, _RUNTIME_FIELDS, key, None)
            external[key] = self._resolved(key, entry)
        anchor = _installed_from(self.path)
        for folder, raw in self.importers.items():
            importer = self._mapping(raw, f"importer {folder!r}", folder, "importers")
            edges[_IMPORTER + folder] = self._refs(importer, _RUNTIME_FIELDS, folder, folder)
            members[member_folder(anchor, folder)] = self._refs(
                importer, _MEMBER_FIELDS, folder, folder
            )
            owned[_IMPORTER + folder] = member_folder(anchor, folder)
        return DepGraph(edges, external, members, owned)

    def _refs(
        self, entry: dict[str, Any], fields: tuple[str, ...], where: str, folder: str | None
    ) -> tuple[str, ...]:
        """The nodes that ``entry``'s dependency ``fields`` point at.

        ``folder`` is the importer's folder, against which ``link:`` paths resolve;
        a link to a folder that is not an importer has no recorded dependencies.
        """
        found: list[str] = []
        for field in fields:
            section = "importers" if folder is not None else self.node_section
            declared = self._mapping(entry.get(field), f"{field} of {where!r}", where, section)
            for name, value in declared.items():
                # Importers map a name to {specifier, version}; packages to the version.
                ref = str(value.get("version", "")) if isinstance(value, dict) else str(value)
                if ref.startswith("link:"):
                    if folder is not None:
                        target = posixpath.normpath(posixpath.join(folder, ref[5:]))
                        if target in self.importers:
                            found.append(_IMPORTER + target)
                    continue
                node = self._node(name, ref)
                if node is not None:
                    found.append(node)
        return tuple(found)

    def _node(self, name: str, ref: str) -> str | None:
        """The package key ``ref`` names: ``1.0.0(peer)``, an alias ``x@1.0.0``, a v6 ``/x@1``."""
        for key in (f"{name}@{ref}", f"/{name}@{ref}", ref, f"/{ref}"):
            if key in self.nodes:
                return key
        return None

    def _resolved(self, key: str, entry: dict[str, Any]) -> Resolved:
        """The Resolved package of node ``key``; v9 keeps its resolution in ``packages``.

        The peer suffix is dropped from the version: the peers are nodes of their own.
        """
        base = key.split("(", 1)[0]
        info = self.packages.get(base, entry) if self.nodes is not self.packages else entry
        info = info if isinstance(info, dict) else {}
        name, _, version = base.lstrip("/").rpartition("@")
        resolution = info.get("resolution")
        resolution = resolution if isinstance(resolution, dict) else {}
        integrity = next(
            (
                str(resolution[k])
                for k in ("integrity", "tarball", "commit", "directory")
                if k in resolution
            ),
            None,
        )
        # file: and git dependencies name themselves in name/version fields instead.
        return Resolved(
            str(info.get("name") or name), str(info.get("version") or version), integrity
        )

    def _section(self, doc: dict[str, Any], key: str) -> dict[str, Any]:
        value = doc.get(key) or {}
        return expect_mapping(
            value, key, path=self.path, line=line_containing(self.data, key + ":")
        )

    def _mapping(self, value: object, what: str, key: str, section: str) -> dict[str, Any]:
        """``value`` (empty when null) as a mapping, else an InputError at ``key``'s line.

        The key is looked for inside its section: v9 repeats each package key in
        ``packages`` and ``snapshots``.
        """
        if value is None:
            return {}
        if isinstance(value, Mapping):
            return dict(value)
        start = line_containing(self.data, f"{section}:") or 1
        line = line_containing(self.data, f"{key}:", start=start)
        return expect_mapping(value, what, path=self.path, line=line or start)
