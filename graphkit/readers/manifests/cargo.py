"""Cargo workspaces: ``Cargo.toml`` bytes -> Packages.

With a ``[workspace]`` table in the root ``Cargo.toml``, its ``members`` globs
(minus ``exclude``, which also drops everything under an excluded folder) name the
member folders; the root is a member when it also has a ``[package]``, and, as in
Cargo, a path dependency of a member that lands on a crate of the repository makes
that crate a member too. A repository without a root ``[workspace]`` gets one
package per ``Cargo.toml`` that has a ``[package]`` table.

A member depends on another through ``[dependencies]``, ``[dev-dependencies]``,
``[build-dependencies]`` and their ``[target.'cfg(...)'.*]`` forms, when the entry is
``path = "..."`` (relative to the member's folder) landing on a member, or
``workspace = true`` resolved through the root's ``[workspace.dependencies]`` (whose
``path`` is relative to the root). A registry dependency counts when the root's
``[patch.<registry>]`` points that crate at a member's folder. Renamed entries
(``package = "real-name"``) resolve by the real name. Crate names compare with
``-`` and ``_`` equivalent, as Cargo does.

Each dep keeps its kind: ``[dev-dependencies]`` are dev deps and test-only (only the
crate's tests, examples and benches build them, never a dependent), so a dev-dependency
cycle such as helix-view ⇄ helix-tui is no cycle of the build. ``[build-dependencies]``
are build deps, ``optional = true`` entries optional ones; both carry to dependents.

What the root ``Cargo.toml`` gives a member is part of the member's definition (the
``root_config`` attribute, see rootconfig): the ``[workspace.package]`` fields it
inherits (``version.workspace = true``), the ``[workspace.dependencies]`` entries it
uses, ``[workspace.lints]`` when it inherits them; and, for every crate, the root's
``[profile.*]``, ``[patch.*]``, ``[replace]`` and the other ``[workspace]`` keys
(``resolver``, ``default-members``, ``[workspace.metadata]``, which tools read). The
files cargo, rustup, clippy and rustfmt read from a crate's folder and above
(``rust-toolchain.toml``, ``.cargo/config.toml``, ...) reach every crate below them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from graphkit.errors import InputError
from graphkit.model import EdgeKind, Package
from graphkit.readers.manifests import rootconfig
from graphkit.readers.manifests.members import (
    Found,
    Manifest,
    Member,
    Sorter,
    add_dep,
    check_patterns,
    folder_of,
    is_glob,
    line_containing,
    manifests_named,
    match_folders,
    nested_members,
    parse_lenient,
    resolve,
    skipped,
)
from graphkit.tomldoc import line_of, load_toml

CARGO_TOML = "Cargo.toml"
# The files read_packages needs, by basename. The caller passes every such file of
# the repository except those under node_modules/, target/, .venv/ and vendor/.
MANIFESTS: tuple[str, ...] = (CARGO_TOML, *rootconfig.CARGO_FILES)
RULE = "cargo_crate"
# Cargo still accepts the underscore spellings of the dev and build tables.
_DEPENDENCY_TABLES = (
    "dependencies",
    "dev-dependencies",
    "dev_dependencies",
    "build-dependencies",
    "build_dependencies",
)


# The kind of each dependency table; dev-dependencies serve tests, examples and benches.
_TABLE_KINDS: dict[str, EdgeKind] = {
    "dependencies": "normal",
    "dev-dependencies": "dev",
    "dev_dependencies": "dev",
    "build-dependencies": "build",
    "build_dependencies": "build",
}
_TEST_ONLY: tuple[EdgeKind, ...] = ("dev",)


@dataclass(frozen=True)
class _Dependency:
    """One dependency entry: the crate it names, and the folder of a path dependency."""

    name: str  # normalised crate name
    folder: str | None  # None for registry and git dependencies, or a path outside the repo
    kind: EdgeKind = "normal"


def crate_name(name: str) -> str:
    """The normalised crate name: Cargo treats ``-`` and ``_`` as the same."""
    return name.replace("-", "_")


def read_packages(files: Mapping[str, bytes]) -> tuple[Package, ...]:
    """One ``cargo_crate`` Package per workspace member (see ``read_workspace``)."""
    return read_workspace(files).packages


def read_workspace(files: Mapping[str, bytes]) -> Found:
    """One ``cargo_crate`` Package per workspace member, with deps between members.

    ``files`` maps repo-relative paths to the bytes of every ``Cargo.toml`` in the
    repository (see MANIFESTS). With a root ``[workspace]``, only the root, its
    members and their path dependencies are read. Without one, a Cargo.toml that
    cannot be read (a test fixture, often) is a warning and no member. Raises
    InputError, with file and line, for a declared member with invalid TOML or
    without ``[package]``, a member glob that leaves the repository, a
    ``workspace = true`` dependency missing from ``[workspace.dependencies]``, or
    two crates with the same name. A crate of a workspace below the root (dagger's
    ``sdk/rust``) inherits from that workspace's root, as Cargo has it.
    """
    paths = manifests_named(files, CARGO_TOML)
    root = _load(files, paths[""]) if "" in paths else None
    workspace = root.doc.get("workspace") if root else None
    nested: dict[str, str] = {}
    if root is None or workspace is None:
        crates, failed = parse_lenient(files, paths, load_toml)
        nested = nested_members(crates, failed, _declares)
        sorter = Sorter({*nested, ""} if root is not None else nested, nested)
        sorter.warnings += [skipped(exc, paths[f]) for f, exc in sorted(failed.items())]
        folders = [f for f, c in sorted(crates.items()) if "package" in c.doc or f in nested]
    else:
        crates = _Crates(files, paths, root)
        folders = _workspace_members(root, workspace, crates, _workspace_dependencies(root))
        sorter = Sorter(folders)
    members = sorter.unique(
        sorter.members(folders, lambda f: _member_of(crates[f]), paths), "crates"
    )

    def workspace_root(folder: str) -> Manifest | None:
        """The manifest ``folder``'s crate inherits from: the root's [workspace], a
        nested workspace's root (a crate may be its own), else the root Cargo.toml."""
        if workspace is None:
            if isinstance(crates[folder].doc.get("workspace"), dict):
                return crates[folder]
            if folder in nested:
                return crates[nested[folder]]
        return root

    configs = rootconfig.config_files(files, rootconfig.CARGO_FILES)
    members = [
        rootconfig.with_sources(
            m,
            {
                **_workspace_sources(workspace_root(m.folder), crates[m.folder]),
                **rootconfig.files_reaching(m.folder, configs, "crate"),
            },
        )
        for m in members
    ]
    member_folders = {m.folder for m in members}
    tables: dict[str, tuple[Mapping[str, Any], Mapping[str, str]]] = {}

    def inherits(folder: str) -> tuple[str, Mapping[str, Any], Mapping[str, str]]:
        """For ``folder``'s crate: the folder of its workspace root, that root's
        ``[workspace.dependencies]`` and its ``[patch]`` path entries."""
        owner = workspace_root(folder)
        if owner is None:
            return "", {}, {}
        if owner.folder not in tables:
            tables[owner.folder] = (
                _workspace_dependencies(owner),
                _patches(owner, member_folders),
            )
        return (owner.folder, *tables[owner.folder])

    def deps_of(member: Member) -> dict[str, EdgeKind]:
        deps: dict[str, EdgeKind] = {}
        base, inherited, patched = inherits(member.folder)
        # Deps resolve by path (or patch), never by bare name: a registry crate that
        # happens to share a member's name is not that member.
        for dep in _dependencies(crates[member.folder], inherited, base):
            if dep.folder in member_folders:
                add_dep(deps, dep.folder, dep.kind)
            elif dep.folder is None and dep.name in patched:
                add_dep(deps, patched[dep.name], dep.kind)
        return deps

    return sorter.found(sorter.settle(members, deps_of, _TEST_ONLY))


def _declares(crate: Manifest) -> tuple[list[str], list[str]] | None:
    """A nested workspace root's ``members`` and ``exclude`` globs, or None."""
    workspace = crate.doc.get("workspace")
    if not isinstance(workspace, dict):
        return None
    line = line_of(crate.data, "workspace") or 1
    return _globs(crate, workspace, "members", line), _globs(crate, workspace, "exclude", line)


def _load(files: Mapping[str, bytes], path: str) -> Manifest:
    return Manifest(folder_of(path), path, files[path], load_toml(files[path], path))


class _Crates(dict[str, Manifest]):
    """The crates of a declared workspace, parsed when first asked for: a Cargo.toml
    the workspace never reaches (a test fixture) is never read."""

    def __init__(self, files: Mapping[str, bytes], paths: Mapping[str, str], root: Manifest):
        super().__init__({"": root})
        self._files = files
        self._paths = paths

    def __contains__(self, folder: object) -> bool:
        return folder in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __missing__(self, folder: str) -> Manifest:
        self[folder] = _load(self._files, self._paths[folder])
        return self[folder]


def _workspace_members(
    root: Manifest,
    workspace: Any,
    crates: Mapping[str, Manifest],
    inherited: Mapping[str, Any],
) -> list[str]:
    """The member folders: matched by ``members``, plus path dependencies of members."""
    line = line_of(root.data, "workspace") or 1
    if not isinstance(workspace, dict):
        raise InputError("`workspace` must be a table", path=root.path, line=line)
    globs = {key: _globs(root, workspace, key, line) for key in ("members", "exclude")}
    for pattern in globs["members"]:
        folder = resolve("", pattern)
        if not is_glob(pattern) and folder is not None and folder not in crates:
            raise InputError(
                f"workspace member {pattern!r} has no Cargo.toml",
                path=root.path,
                line=line_containing(root.data, f'"{pattern}"') or line,
            )
    matched = match_folders((f for f in crates if f), globs["members"])
    allowed = set(match_folders(crates, ["**", "."], globs["exclude"]))
    members = {f for f in matched if f in allowed}
    if "package" in root.doc:
        members.add("")
    # Cargo: "All path dependencies residing in the workspace directory automatically
    # become members." Follow them until no new crate turns up.
    pending = sorted(members)
    while pending:
        crate = crates[pending.pop()]
        if "package" not in crate.doc:
            raise InputError(
                f"workspace member {crate.folder!r} has no [package] table",
                path=crate.path,
                line=1,
                hint=f"add one, or exclude it in {root.path}",
            )
        for dep in _dependencies(crate, inherited):
            found = dep.folder
            if found is not None and found in crates and found in allowed and found not in members:
                members.add(found)
                pending.append(found)
    return sorted(members)


def _globs(root: Manifest, workspace: dict[str, Any], key: str, line: int) -> list[str]:
    value = workspace.get(key, [])
    at = line_of(root.data, key, start=line) or line
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(
            f"`workspace.{key}` must be a list of paths or globs", path=root.path, line=at
        )
    check_patterns(value, path=root.path, data=root.data, line=at, key=f"workspace.{key}")
    return value


def _member_of(crate: Manifest) -> Member:
    """The crate's normalised name, line and attributes; deps come later."""
    line = line_of(crate.data, "package") or 1
    package = crate.doc.get("package")
    name = package.get("name") if isinstance(package, dict) else None
    if not isinstance(name, str) or not name:
        raise InputError(
            "[package] needs a `name` string",
            path=crate.path,
            line=line_of(crate.data, "name", start=line) or line,
        )
    return Member(
        folder=crate.folder,
        manifest=crate.path,
        rule=RULE,
        alias=crate_name(name),
        line=line,
        # The whole manifest is an attribute: a semantic edit (features, edition,
        # a version bump) redefines the crate, while a comment or reordering does not.
        attrs=(("manifest_doc", crate.doc),),
    )


def _workspace_sources(root: Manifest | None, crate: Manifest) -> dict[str, object]:
    """What reaches ``crate`` from the root of its workspace (none: it is in none)."""
    if root is None or not isinstance(root.doc.get("workspace"), dict):
        return {}
    return {**_every_crate(root), **_inherited(root, crate)}


def _every_crate(root: Manifest) -> dict[str, object]:
    """The root's settings that reach every crate of the workspace."""
    sources: dict[str, object] = {}
    for table in ("profile", "patch", "replace"):
        if table in root.doc:
            sources[f"{root.path} [{table}] (every crate)"] = root.doc[table]
    workspace = root.doc.get("workspace")
    workspace = workspace if isinstance(workspace, dict) else {}
    # members and exclude act through membership; package, dependencies and lints
    # reach only the crates that inherit them (see _inherited).
    per_member = {"members", "exclude", "package", "dependencies", "lints"}
    rest = {k: v for k, v in workspace.items() if k not in per_member}
    if rest:
        sources[f"{root.path} [workspace] {', '.join(sorted(rest))} (every crate)"] = rest
    return sources


def _inherited(root: Manifest, crate: Manifest) -> dict[str, object]:
    """What ``crate`` inherits from the root: package fields, dependency entries, lints."""
    sources: dict[str, object] = {}
    workspace = root.doc["workspace"]
    fields = workspace.get("package") if isinstance(workspace.get("package"), dict) else {}
    package = crate.doc.get("package")
    for key, value in package.items() if isinstance(package, dict) else ():
        if isinstance(value, dict) and value.get("workspace") is True:
            sources[f"{root.path} [workspace.package] {key}"] = fields.get(key)
    entries = workspace.get("dependencies")
    entries = entries if isinstance(entries, dict) else {}
    for _, table in _dependency_tables(crate):
        for key, spec in table.items() if isinstance(table, dict) else ():
            if isinstance(spec, dict) and spec.get("workspace") is True:
                sources[f"{root.path} [workspace.dependencies] {key}"] = entries.get(key)
    lints = crate.doc.get("lints")
    if isinstance(lints, dict) and lints.get("workspace") is True:
        sources[f"{root.path} [workspace.lints]"] = workspace.get("lints")
    return sources


def _workspace_dependencies(root: Manifest) -> Mapping[str, Any]:
    workspace = root.doc.get("workspace")
    table = workspace.get("dependencies", {}) if isinstance(workspace, dict) else {}
    if not isinstance(table, dict):
        raise InputError(
            "`workspace.dependencies` must be a table",
            path=root.path,
            line=line_of(root.data, "workspace.dependencies"),
        )
    return table


def _patches(root: Manifest, members: set[str]) -> dict[str, str]:
    """``{crate name: member folder}`` from the root's ``[patch.<registry>]`` path entries.

    A patched crate is built from the local folder instead of the registry, so a
    member depending on it by version depends on that folder's crate.
    """
    patches = root.doc.get("patch") or {}
    if not isinstance(patches, dict):
        raise InputError(
            "`patch` must be a table of registries",
            path=root.path,
            line=line_of(root.data, "patch"),
        )
    patched = {}
    for registry in patches.values():
        for key, spec in registry.items() if isinstance(registry, dict) else ():
            if isinstance(spec, dict) and isinstance(spec.get("path"), str):
                folder = resolve(root.folder, spec["path"])
                name = spec.get("package", key)
                if folder in members and isinstance(name, str):
                    patched[crate_name(name)] = folder
    return patched


def _dependency_tables(crate: Manifest) -> Iterator[tuple[str, Any]]:
    """``(table name, table)`` for every dependency table, platform-specific ones too."""
    for key in _DEPENDENCY_TABLES:
        if key in crate.doc:
            yield key, crate.doc[key]
    targets = crate.doc.get("target", {})
    for platform, tables in targets.items() if isinstance(targets, dict) else ():
        for key in _DEPENDENCY_TABLES:
            if isinstance(tables, dict) and key in tables:
                yield f"target.{platform}.{key}", tables[key]


def _dependencies(
    crate: Manifest, inherited: Mapping[str, Any], root: str = ""
) -> Iterator[_Dependency]:
    """Every dependency entry of ``crate``, resolved to a crate name and a path;
    ``inherited`` is ``[workspace.dependencies]`` of the workspace root in folder ``root``."""
    for table_name, table in _dependency_tables(crate):
        if not isinstance(table, dict):
            raise InputError(
                f"`{table_name}` must be a table",
                path=crate.path,
                line=line_of(crate.data, table_name.rsplit(".", 1)[-1]),
            )
        kind = _TABLE_KINDS[table_name.rsplit(".", 1)[-1]]
        for key, spec in table.items():
            dep = _dependency(crate, key, spec, inherited, root)
            if kind == "normal" and isinstance(spec, dict) and spec.get("optional") is True:
                kind_here: EdgeKind = "optional"
            else:
                kind_here = kind
            yield replace(dep, kind=kind_here)


def _dependency(
    crate: Manifest, key: str, spec: Any, inherited: Mapping[str, Any], root: str
) -> _Dependency:
    def fail(message: str) -> InputError:
        # `key = {...}` or the dotted `key.workspace = true`, which line_of does not know.
        dotted = re.compile(rf'^\s*"?{re.escape(key)}"?\s*[=.]', re.MULTILINE)
        text = crate.data.decode("utf-8", "replace")
        found = dotted.search(text)
        line = text.count("\n", 0, found.start()) + 1 if found else None
        return InputError(message, path=crate.path, line=line)

    if isinstance(spec, str):
        return _Dependency(crate_name(key), None)  # a registry version requirement
    if not isinstance(spec, dict):
        raise fail(f"dependency {key!r} must be a version string or a table")
    base = crate.folder
    if spec.get("workspace") is True:
        if key not in inherited:
            raise fail(
                f"dependency {key!r} has `workspace = true` but "
                f"[workspace.dependencies] has no {key!r}"
            )
        # Inherited entries keep their own `path` and `package`, relative to the root.
        spec = inherited[key]
        base = root
        if isinstance(spec, str):
            return _Dependency(crate_name(key), None)
        if not isinstance(spec, dict):
            raise fail(f"workspace dependency {key!r} must be a version string or a table")
    name = spec.get("package", key)
    path = spec.get("path")
    if not isinstance(name, str) or (path is not None and not isinstance(path, str)):
        raise fail(f"`package` and `path` of dependency {key!r} must be strings")
    return _Dependency(crate_name(name), resolve(base, path) if path is not None else None)
