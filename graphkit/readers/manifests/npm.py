"""npm, yarn and pnpm workspaces: ``package.json`` / ``pnpm-workspace.yaml`` bytes -> Packages.

Membership comes from the root: ``pnpm-workspace.yaml`` ``packages`` when that file
exists (pnpm ignores ``workspaces`` then), else the root ``package.json``
``workspaces`` (an array, or yarn's object form ``{"packages": [...]}``). Patterns
match folders that hold a ``package.json``, with npm's glob semantics: ``*`` is one
folder, ``**`` any depth, ``!pattern`` excludes. The root ``package.json`` is itself
a member, as all three tools treat it as a project.

A repository without a workspace declaration gets one package per ``package.json``
that has a ``name``.

A member depends on another when any of its dependency fields names it, whatever
the spec (``workspace:*``, ``^1.2.3``, ``*``): graphkit errs on the safe side rather
than decide which version range the local copy satisfies. Aliases
(``"ui": "workspace:@acme/ui@*"``, ``"npm:@acme/ui@^1"``) count under the real name,
and ``file:`` / ``link:`` specs count when their path is a member's folder. Each dep
keeps its field's kind (normal, dev, peer, optional); all of them carry to dependents.

In a workspace, the root's install settings reach every member (the
``root_config`` attribute, see rootconfig): the root ``package.json``'s
``packageManager``, ``engines``, ``overrides``, ``resolutions`` and ``pnpm``
(``pnpm.overrides``, patched dependencies, ...), and every key of
``pnpm-workspace.yaml`` but its ``packages`` and catalogs. graphkit does not
resolve an override to the packages it reaches (the lockfile shows the outcome,
and is compared on its own). A ``catalog:`` spec reaches only its member: the
catalog entry it resolves to is part of that member's definition. ``.npmrc``,
``.yarnrc.yml``, ``.nvmrc``, ``.node-version`` and ``.pnpmfile.cjs`` reach every
member at or below their folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from graphkit import yamldoc
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
    folders_by_name,
    line_containing,
    manifests_named,
    match_folders,
    nested_members,
    parse_lenient,
    resolve,
    skipped,
)
from graphkit.tomldoc import TOO_DEEP

PACKAGE_JSON = "package.json"
PNPM_WORKSPACE = "pnpm-workspace.yaml"
# The files read_packages needs, by basename. The caller passes every such file of
# the repository except those under node_modules/, target/, .venv/ and vendor/.
MANIFESTS: tuple[str, ...] = (PACKAGE_JSON, PNPM_WORKSPACE, *rootconfig.NPM_FILES)
RULE = "npm_package"
DEPENDENCY_FIELDS = ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies")
_KINDS: dict[str, EdgeKind] = {
    "dependencies": "normal",
    "devDependencies": "dev",
    "peerDependencies": "peer",
    "optionalDependencies": "optional",
}
# No npm kind is test-only: a workspace package in devDependencies is as often a build
# tool (a bundler plugin, a code generator, a types package) whose output lands in the
# dependent's dist as a test helper, and npm cannot tell the two apart. So devDependencies
# carry to the dependent's dependents, like every other kind.
_TEST_ONLY: tuple[EdgeKind, ...] = ()
_PATH_PROTOCOLS = ("file:", "link:", "portal:")
# Root package.json fields that change how every member installs or runs.
_ROOT_FIELDS = ("packageManager", "engines", "overrides", "resolutions", "pnpm")
_CATALOG = "catalog:"


def read_packages(files: Mapping[str, bytes]) -> tuple[Package, ...]:
    """One ``npm_package`` Package per workspace member (see ``read_workspace``)."""
    return read_workspace(files).packages


def read_workspace(files: Mapping[str, bytes]) -> Found:
    """One ``npm_package`` Package per workspace member, with deps between members.

    ``files`` maps repo-relative paths to the bytes of every ``package.json`` and
    ``pnpm-workspace.yaml`` in the repository (see MANIFESTS). A root that declares
    its members gets exactly those: other package.json files are plain files, never
    parsed (test fixtures are often invalid on purpose). Without a declaration,
    every package.json with a ``name`` is a member, a folder whose package.json
    declares ``workspaces`` is a workspace root of its own, and a package.json
    outside such a workspace that cannot be read is a warning, not a member.
    Raises InputError, with file and line, for a declared member (or the root) with
    invalid JSON or YAML, a field of the wrong type, a member glob that leaves the
    repository, or two members with the same name.
    """
    paths = manifests_named(files, PACKAGE_JSON)
    root = _load(files, paths[""]) if "" in paths else None
    patterns = _workspace_patterns(files, root)
    failed: dict[str, InputError] = {}
    if patterns is not None:
        declared = set(match_folders((f for f in paths if f), patterns))
        if root is not None:
            declared.add("")
        manifests = {f: _load(files, paths[f]) for f in sorted(declared)}
        # pnpm, unlike npm and yarn, lets members share a name (vite's test fixtures do).
        sorter = Sorter(declared, names_unique=PNPM_WORKSPACE not in files)
    else:
        manifests, failed = parse_lenient(files, paths, _load_json)
        nested = _nested_members(manifests, failed)
        sorter = Sorter(nested, nested)
    sorter.warnings += [skipped(exc, paths[f]) for f, exc in sorted(failed.items())]
    folders = sorted(
        f for f, m in manifests.items() if f in sorter.strict or m.doc.get("name") is not None
    )
    members = sorter.members(folders, lambda f: _member_of(manifests[f]), paths)
    members = sorter.unique(members, "npm packages")
    folder_by_name = folders_by_name(members)
    member_folders = {m.folder for m in members}
    pnpm = _pnpm_doc(files[PNPM_WORKSPACE]) if PNPM_WORKSPACE in files else {}
    shared = _every_member(manifests.get(""), pnpm) if patterns is not None else {}
    configs = rootconfig.config_files(files, rootconfig.NPM_FILES)
    members = [
        rootconfig.with_sources(
            member,
            {
                **shared,
                **_catalog_entries(manifests[member.folder], pnpm),
                **rootconfig.files_reaching(member.folder, configs, "package"),
            },
        )
        for member in members
    ]
    return sorter.found(
        sorter.settle(
            members,
            lambda m: _local_deps(manifests[m.folder], folder_by_name, member_folders),
            _TEST_ONLY,
        )
    )


def _every_member(root: Manifest | None, pnpm: Mapping[str, Any]) -> dict[str, object]:
    """The workspace root's settings that reach every member."""
    sources: dict[str, object] = {}
    catalogs = _catalogs(pnpm)
    for key in _ROOT_FIELDS:
        if root is not None and key in root.doc:
            value = _with_catalogs(root.doc[key], catalogs)
            sources[f"{root.path} {key} (every package)"] = value
    # One source per setting, so a reason names the setting that moved.
    for key, value in pnpm.items():
        if key not in ("packages", "catalog", "catalogs"):
            sources[f"{PNPM_WORKSPACE} {key} (every package)"] = _with_catalogs(value, catalogs)
    return sources


def _catalogs(pnpm: Mapping[str, Any]) -> dict[str, Any]:
    """``{catalog name: {package: spec}}``; the default catalog is ``default``."""
    catalogs = pnpm.get("catalogs")
    catalogs = dict(catalogs) if isinstance(catalogs, dict) else {}
    if isinstance(pnpm.get("catalog"), dict):
        catalogs["default"] = pnpm["catalog"]
    return catalogs


def _catalog_entry(catalogs: Mapping[str, Any], spec: str, package: str) -> object:
    """The entry a ``catalog:[name]`` spec for ``package`` resolves to (None: missing)."""
    catalog = catalogs.get(spec[len(_CATALOG) :].strip() or "default")
    return catalog.get(package) if isinstance(catalog, dict) else None


def _with_catalogs(value: object, catalogs: Mapping[str, Any], key: str = "") -> object:
    """``value`` with each ``catalog:`` spec (an override of ``key``) resolved in place,
    so a catalog edit reaches what an override built on it reaches."""
    if isinstance(value, dict):
        return {k: _with_catalogs(v, catalogs, str(k)) for k, v in value.items()}
    if isinstance(value, str) and value.startswith(_CATALOG):
        catalog = catalogs.get(value[len(_CATALOG) :].strip() or "default")
        package = _overridden(key)
        if isinstance(catalog, dict) and package not in catalog:
            return {value: catalog}  # cannot tell which entry: the whole catalog counts
        return {value: _catalog_entry(catalogs, value, package)}
    return value


def _overridden(selector: str) -> str:
    """The package an override selector names: ``a>b@1`` (pnpm), ``**/a/@s/b`` (yarn)."""
    parts = selector.rsplit(">", 1)[-1].split("/")
    name = "/".join(parts[-2:]) if len(parts) > 1 and parts[-2].startswith("@") else parts[-1]
    at = name.find("@", 1)
    return name if at < 0 else name[:at]


def _catalog_entries(manifest: Manifest, pnpm: Mapping[str, Any]) -> dict[str, object]:
    """The pnpm catalog entries ``manifest``'s ``catalog:`` specs resolve to.

    ``catalog:`` and ``catalog:default`` name the default catalog (``catalog``, or
    ``catalogs.default``); ``catalog:name`` a named one. A missing entry is None:
    pnpm refuses it, and adding it later is a change.
    """
    catalogs = _catalogs(pnpm)
    sources: dict[str, object] = {}
    for field_name in DEPENDENCY_FIELDS:
        table = manifest.doc.get(field_name)
        for key, spec in table.items() if isinstance(table, dict) else ():
            if isinstance(spec, str) and spec.startswith(_CATALOG):
                name = spec[len(_CATALOG) :].strip() or "default"
                entry = _catalog_entry(catalogs, spec, key)
                sources[f"{PNPM_WORKSPACE} catalog {name}: {key}"] = entry
    return sources


def _load(files: Mapping[str, bytes], path: str) -> Manifest:
    return Manifest(folder_of(path), path, files[path], _load_json(files[path], path))


def _nested_members(
    manifests: Mapping[str, Manifest], failed: Mapping[str, InputError]
) -> dict[str, str]:
    """Folders declared by a nested workspace root (a package.json with ``workspaces``
    below the repository root), and the roots that have a name: these are members,
    so their manifests must be valid. Each maps to the root of its workspace."""

    def declares(manifest: Manifest) -> tuple[list[str], list[str]] | None:
        if "workspaces" not in manifest.doc:
            return None
        return _workspace_patterns({}, manifest) or [], []

    declared = nested_members(manifests, failed, declares)
    roots = {
        f: f
        for f, m in manifests.items()
        if f and "workspaces" in m.doc and m.doc.get("name") is not None
    }
    return {**declared, **roots}


def _member_of(manifest: Manifest) -> Member:
    """The member's name, line and attributes; deps come once all names are known."""
    doc = manifest.doc
    name = doc.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise InputError(
            "`name` must be a non-empty string", path=manifest.path, line=_line(manifest, "name")
        )
    scripts = doc.get("scripts", {})
    if not isinstance(scripts, dict) or not all(isinstance(v, str) for v in scripts.values()):
        raise InputError(
            "`scripts` must be an object of command strings",
            path=manifest.path,
            line=_line(manifest, "scripts"),
        )
    # The whole object is an attribute too: a semantic edit (a version bump, "type",
    # "exports") redefines the package, while reformatting or reordering does not.
    attrs: tuple[tuple[str, object], ...] = (("manifest_doc", doc), ("scripts", scripts))
    return Member(
        folder=manifest.folder,
        manifest=manifest.path,
        rule=RULE,
        alias=name,
        line=_line(manifest, "name") or 1,
        attrs=attrs,
    )


def _local_deps(
    manifest: Manifest, folder_by_name: Mapping[str, tuple[str, ...]], members: set[str]
) -> dict[str, EdgeKind]:
    """Folders of the members that ``manifest``'s dependency fields name, with their kind."""
    deps: dict[str, EdgeKind] = {}
    for field_name in DEPENDENCY_FIELDS:
        table = manifest.doc.get(field_name, {})
        if not isinstance(table, dict):
            raise InputError(
                f"`{field_name}` must be an object of name: version spec",
                path=manifest.path,
                line=_line(manifest, field_name),
            )
        for key, spec in table.items():
            if not isinstance(spec, str):
                raise InputError(
                    f"the spec of {key!r} in `{field_name}` must be a string",
                    path=manifest.path,
                    line=_line(manifest, key, start=_line(manifest, field_name) or 1),
                )
            if spec.startswith(_PATH_PROTOCOLS):
                target = resolve(manifest.folder, spec.partition(":")[2])
                if target in members:
                    add_dep(deps, target, _KINDS[field_name])
                    continue
            for folder in folder_by_name.get(_real_name(key, spec), ()):
                add_dep(deps, folder, _KINDS[field_name])
    return deps


def _real_name(key: str, spec: str) -> str:
    """The package a dependency entry installs: its key, unless the spec is an alias.

    ``workspace:@acme/ui@*`` and ``npm:@acme/ui@^1`` install ``@acme/ui`` under the
    key's name; ``workspace:^`` and ``workspace:*`` name the key itself.
    """
    for protocol in ("workspace:", "npm:"):
        if spec.startswith(protocol):
            rest = spec[len(protocol) :]
            if rest and (rest[0] == "@" or rest[0].isalpha()):
                at = rest.find("@", 1)
                return rest if at < 0 else rest[:at]
    return key


def _line(manifest: Manifest, key: str, *, start: int = 1) -> int | None:
    """The line of ``"key":`` at or after ``start`` (JSON keeps no positions)."""
    return line_containing(manifest.data, json.dumps(key) + ":", start=start)


def _load_json(data: bytes, path: str) -> dict[str, Any]:
    try:
        # npm and node strip a byte-order mark, so a package.json may carry one.
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", path=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    except RecursionError:
        raise InputError(TOO_DEEP, path=path) from None
    if not isinstance(doc, dict):
        raise InputError(
            f"a package.json must hold an object, found {type(doc).__name__}", path=path, line=1
        )
    return doc


def _workspace_patterns(files: Mapping[str, bytes], root: Manifest | None) -> list[str] | None:
    """The root's member patterns, or None when the root declares no workspace."""
    if PNPM_WORKSPACE in files:
        return _pnpm_patterns(files[PNPM_WORKSPACE])
    if root is None or "workspaces" not in root.doc:
        return None
    workspaces = root.doc["workspaces"]
    # yarn's object form also holds `nohoist`, which changes installs, not membership.
    if isinstance(workspaces, dict):
        workspaces = workspaces.get("packages", [])
    line = _line(root, "workspaces")
    if not isinstance(workspaces, list) or not all(isinstance(p, str) for p in workspaces):
        raise InputError(
            '`workspaces` must be a list of globs or {"packages": [globs]}',
            path=root.path,
            line=line,
        )
    check_patterns(workspaces, path=root.path, data=root.data, line=line, key="workspaces")
    return workspaces


def _pnpm_patterns(data: bytes) -> list[str]:
    doc = _pnpm_doc(data)
    # pnpm: "If the packages field is omitted, only the root package is included."
    packages = doc.get("packages", [])
    line = line_containing(data, "packages")
    if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
        raise InputError("`packages` must be a list of globs", path=PNPM_WORKSPACE, line=line)
    check_patterns(packages, path=PNPM_WORKSPACE, data=data, line=line, key="packages")
    return packages


def _pnpm_doc(data: bytes) -> dict[str, Any]:
    """``pnpm-workspace.yaml`` as a mapping (empty when the file is)."""
    try:
        doc = yamldoc.load(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", path=PNPM_WORKSPACE) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(
            f"invalid YAML: {problem}",
            path=PNPM_WORKSPACE,
            line=mark.line + 1 if mark is not None else None,
        ) from None
    except RecursionError:
        raise InputError(TOO_DEEP, path=PNPM_WORKSPACE) from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise InputError("pnpm-workspace.yaml must hold a mapping", path=PNPM_WORKSPACE, line=1)
    return doc
