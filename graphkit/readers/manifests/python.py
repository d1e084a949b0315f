"""Python projects and uv workspaces: ``pyproject.toml`` bytes -> Packages.

With ``[tool.uv.workspace]`` in the root ``pyproject.toml``, its ``members`` globs
(minus ``exclude``) name the member folders, and the root is a member too when it
has a ``[project]`` table, as in uv. A member must have a ``pyproject.toml`` with a
``[project]`` table (uv refuses one without). A repository without a uv workspace
gets one package per ``pyproject.toml`` that has a ``[project]`` table.

A member depends on another when a requirement in its PEP 621
``[project] dependencies`` or ``[project.optional-dependencies]``, its PEP 735
``[dependency-groups]`` or uv's legacy ``[tool.uv] dev-dependencies`` names it,
whatever the version specifier or marker (the safe side). Names compare after
PEP 503 normalisation, so ``Acme.API`` is ``acme-api``. A member's own
``[tool.uv.sources]`` entry ``{ workspace = true }`` or ``{ path = "..." }`` that
points at another member marks a dep as well.

A member whose dependencies are ``dynamic`` (filled in by a build hook, as
pydantic/pydantic-ai's hatch metadata hook does) declares none in its
``pyproject.toml``; the root ``uv.lock`` records them. So an edge recorded in either
counts: a member depends on every member its ``uv.lock`` package entry names in
``dependencies``, ``optional-dependencies`` or ``dev-dependencies``. A ``uv.lock``
that does not parse adds no edges (its blob id then keys every Python package, see
graphkit.analysis.externals).

In a uv workspace, the root's ``[tool.uv]`` settings but ``workspace`` (overrides,
constraints, indexes, sources) reach every member, and ``.python-version`` and
``uv.toml`` every member at or below their folder (see rootconfig).

Each dep keeps its kind: ``[project] dependencies`` are normal, extras optional, and
PEP 735 groups, uv's ``dev-dependencies`` and the extras named like a development
extra (``dev``, ``test``, ``tests``, ``testing``) are dev deps. Dev deps are test-only:
a consumer installs the project without them, so they affect the project's own tests
and never carry to its dependents. An edge only ``uv.lock`` records is normal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

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

PYPROJECT = "pyproject.toml"
# The files read_packages needs, by basename. The caller passes every such file of
# the repository except those under node_modules/, target/, .venv/ and vendor/.
UV_LOCK = "uv.lock"
MANIFESTS: tuple[str, ...] = (PYPROJECT, UV_LOCK, *rootconfig.PYTHON_FILES)
RULE = "python_package"
# PEP 508's name grammar; canonicalize_name alone accepts anything.
# Extras that, by the community's convention, install a development environment.
DEV_EXTRAS = frozenset({"dev", "test", "tests", "testing"})
_TEST_ONLY: tuple[EdgeKind, ...] = ("dev",)
_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def read_packages(files: Mapping[str, bytes]) -> tuple[Package, ...]:
    """One ``python_package`` Package per project (see ``read_workspace``)."""
    return read_workspace(files).packages


def read_workspace(files: Mapping[str, bytes]) -> Found:
    """One ``python_package`` Package per project (uv workspace member), with deps.

    ``files`` maps repo-relative paths to the bytes of every ``pyproject.toml`` in
    the repository (see MANIFESTS). With a uv workspace, only the root and its
    members are read. Without one, a pyproject.toml that cannot be read (a test
    fixture, often) is a warning and no member. Raises InputError, with file and
    line, for a declared member or root with invalid TOML, a bad requirement
    string, a field of the wrong type, or no ``[project]`` table; a member glob
    that leaves the repository; or two members with the same normalised name.
    """
    paths = manifests_named(files, PYPROJECT)
    root = _load(files, paths[""]) if "" in paths else None
    workspace = root.table("tool", "uv", "workspace") if root else None
    nested: dict[str, str] = {}
    if root is None or workspace is None:
        projects, failed = parse_lenient(files, paths, load_toml)
        nested = nested_members(projects, failed, _declares)
        sorter = Sorter({*nested, ""} if root is not None else nested, nested)
        sorter.warnings += [skipped(exc, paths[f]) for f, exc in sorted(failed.items())]
        folders = [
            f for f, p in sorted(projects.items()) if p.table("project") is not None or f in nested
        ]
    else:
        declared = _workspace_members(root, workspace, paths)
        projects = {f: _load(files, paths[f]) for f in declared if f}
        projects[""] = root
        folders = _with_project(root, declared, projects)
        sorter = Sorter(folders)
    members = sorter.members(folders, lambda f: _member_of(projects[f]), paths)
    members = sorter.unique(members, "Python projects")
    folder_by_name = folders_by_name(members)
    member_folders = {m.folder for m in members}
    locked = _locked_deps(files, folder_by_name)
    configs = rootconfig.config_files(files, rootconfig.PYTHON_FILES)

    def uv_root(folder: str) -> Manifest | None:
        """The root of the uv workspace ``folder``'s project is in: the root's, or one
        below it (uv's own test fixtures), or None."""
        if workspace is not None:
            return root
        return projects[nested[folder]] if folder in nested else None

    members = [
        rootconfig.with_sources(
            m,
            {
                **_uv_settings(uv_root(m.folder)),
                **rootconfig.files_reaching(m.folder, configs, "package"),
            },
        )
        for m in members
    ]
    return sorter.found(
        sorter.settle(
            members,
            lambda m: _with_locked(
                _local_deps(projects[m.folder], folder_by_name, member_folders),
                locked.get(m.folder, set()),
            ),
            _TEST_ONLY,
        )
    )


def _uv_settings(root: Manifest | None) -> dict[str, object]:
    """A uv workspace root's ``[tool.uv]`` settings, which reach every member: one
    source per setting, so a reason names the setting that moved."""
    if root is None:
        return {}
    settings = root.table("tool", "uv")
    if not isinstance(settings, dict):
        return {}
    return {
        f"{root.path} [tool.uv] {key} (every package)": value
        for key, value in settings.items()
        if key != "workspace"
    }


def _declares(project: Manifest) -> tuple[list[str], list[str]] | None:
    """A nested uv workspace root's ``members`` and ``exclude`` globs, or None."""
    workspace = project.table("tool", "uv", "workspace")
    if not isinstance(workspace, dict):
        return None
    globs = []
    for key in ("members", "exclude"):
        value = workspace.get(key, [])
        at = line_of(project.data, key) or 1
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"`{key}` must be a list of globs", path=project.path, line=at)
        check_patterns(value, path=project.path, data=project.data, line=at, key=key)
        globs.append(value)
    return globs[0], globs[1]


def _load(files: Mapping[str, bytes], path: str) -> Manifest:
    return Manifest(folder_of(path), path, files[path], load_toml(files[path], path))


def _with_locked(found: dict[str, EdgeKind], locked: set[str]) -> dict[str, EdgeKind]:
    """The deps ``pyproject.toml`` names, with their kinds, plus those only ``uv.lock``
    records (dynamic dependencies): of these the kind is unknown, so they are normal."""
    return {**{folder: "normal" for folder in locked}, **found}


def _locked_deps(
    files: Mapping[str, bytes], folder_by_name: Mapping[str, tuple[str, ...]]
) -> dict[str, set[str]]:
    """``{member folder: folders of the members it depends on}`` as ``uv.lock`` records them."""
    if UV_LOCK not in files:
        return {}
    try:
        doc = load_toml(files[UV_LOCK], UV_LOCK)
    except InputError:
        return {}
    found: dict[str, set[str]] = {}
    packages = doc.get("package")
    for package in packages if isinstance(packages, list) else ():
        source = package.get("source") if isinstance(package, dict) else None
        if not isinstance(source, dict):
            continue
        place = next((source[k] for k in ("editable", "virtual", "directory") if k in source), None)
        folder = resolve("", place) if isinstance(place, str) else None
        if folder is None:
            continue
        deps = found.setdefault(folder, set())
        for entry in _locked_entries(package):
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str):
                deps.update(folder_by_name.get(canonicalize_name(name), ()))
    return found


def _locked_entries(package: dict[str, Any]) -> Iterator[Any]:
    """Every dependency entry of a ``uv.lock`` package: base, extras and groups."""
    base = package.get("dependencies")
    yield from base if isinstance(base, list) else ()
    for table in ("optional-dependencies", "dev-dependencies"):
        groups = package.get(table)
        for entries in groups.values() if isinstance(groups, dict) else ():
            yield from entries if isinstance(entries, list) else ()


def _workspace_members(root: Manifest, workspace: Any, paths: Mapping[str, str]) -> list[str]:
    """The member folders that the root's ``[tool.uv.workspace]`` names."""
    line = line_of(root.data, "tool.uv.workspace")
    if not isinstance(workspace, dict):
        raise InputError("`tool.uv.workspace` must be a table", path=root.path, line=line)
    globs: dict[str, list[str]] = {}
    for key in ("members", "exclude"):
        value = workspace.get(key, [])
        at = line_of(root.data, key, start=line or 1)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"`{key}` must be a list of globs", path=root.path, line=at)
        check_patterns(value, path=root.path, data=root.data, line=at, key=key)
        globs[key] = value
    # uv refuses a literal member path without a pyproject.toml; a glob that also
    # matches other folders is expanded over the folders that have one.
    for pattern in globs["members"]:
        folder = resolve("", pattern)
        if not is_glob(pattern) and folder is not None and folder not in paths:
            raise InputError(
                f"workspace member {pattern!r} has no pyproject.toml",
                path=root.path,
                line=line_containing(root.data, f'"{pattern}"') or line,
            )
    return match_folders((f for f in paths if f), globs["members"], globs["exclude"])


def _with_project(
    root: Manifest, folders: list[str], projects: Mapping[str, Manifest]
) -> list[str]:
    """The members: every matched folder (each must have ``[project]``), and the root
    when it has one, as in uv."""
    for folder in folders:
        if projects[folder].table("project") is None:
            raise InputError(
                f"workspace member {folder!r} has no [project] table",
                path=projects[folder].path,
                line=1,
                hint=f"add one, or exclude it in {root.path}",
            )
    return ["", *folders] if root.table("project") is not None else folders


def _member_of(project: Manifest) -> Member:
    """The project's normalised name, line and attributes; deps come later."""
    table = project.table("project")
    line = line_of(project.data, "project") or 1
    if not isinstance(table, dict):
        raise InputError("`project` must be a table", path=project.path, line=line)
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(
            f"[project] needs a valid `name`, found {name!r}",
            path=project.path,
            line=line_of(project.data, "name", start=line) or line,
        )
    attrs: list[tuple[str, object]] = [("manifest_doc", project.doc)]
    if "requires-python" in table:
        attrs.append(("requires-python", table["requires-python"]))
    return Member(
        folder=project.folder,
        manifest=project.path,
        rule=RULE,
        alias=canonicalize_name(name),
        line=line,
        attrs=tuple(attrs),
    )


def _local_deps(
    project: Manifest, folder_by_name: Mapping[str, tuple[str, ...]], members: set[str]
) -> dict[str, EdgeKind]:
    """Folders of the members that ``project`` requires or points its sources at, with
    their kinds (a source alone names no kind: it counts as normal, the safe side)."""
    deps: dict[str, EdgeKind] = {}
    for kind, name in _required_names(project):
        for folder in folder_by_name.get(name, ()):
            add_dep(deps, folder, kind)
    sources = project.table("tool", "uv", "sources") or {}
    if not isinstance(sources, dict):
        raise InputError(
            "`tool.uv.sources` must be a table",
            path=project.path,
            line=line_of(project.data, "tool.uv.sources"),
        )
    for key, source in sources.items():
        # A source is a table, or a list of tables that differ by marker.
        for entry in source if isinstance(source, list) else [source]:
            if not isinstance(entry, dict):
                continue
            line = line_of(project.data, key) or line_of(project.data, "tool.uv.sources")
            if entry.get("workspace") is True:
                folders = folder_by_name.get(canonicalize_name(key), ())
                if not folders:
                    raise InputError(
                        f"source {key!r} says `workspace = true` but names no workspace member",
                        path=project.path,
                        line=line,
                    )
                for folder in folders:
                    deps.setdefault(folder, "normal")
            elif isinstance(entry.get("path"), str):
                target = resolve(project.folder, entry["path"])
                if target is not None and target in members:
                    deps.setdefault(target, "normal")
    return deps


def _required_names(project: Manifest) -> Iterator[tuple[EdgeKind, str]]:
    """The kind and normalised name of every requirement the project declares."""
    for key, text in _requirement_strings(project):
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            # packaging's message spans lines (it draws a caret); keep the first.
            reason = str(exc).splitlines()[0]
            raise InputError(
                f"invalid requirement {text!r} in `{key}`: {reason}",
                path=project.path,
                line=line_containing(project.data, text),
            ) from None
        yield _kind_of(key), canonicalize_name(requirement.name)


def _kind_of(key: str) -> EdgeKind:
    """The kind of a requirement listed under ``key`` (see ``_requirement_strings``)."""
    if key == "dependencies":
        return "normal"
    if key.startswith("optional-dependencies."):
        extra = key.partition(".")[2]
        return "dev" if canonicalize_name(extra) in DEV_EXTRAS else "optional"
    return "dev"  # dependency-groups.*, tool.uv.dev-dependencies


def _requirement_strings(project: Manifest) -> Iterator[tuple[str, str]]:
    """``(field, requirement string)`` from every place a project lists requirements."""
    yield from _strings(project, "dependencies", project.table("project", "dependencies"))
    extras = project.table("project", "optional-dependencies") or {}
    groups = project.table("dependency-groups") or {}
    for key, tables in (("optional-dependencies", extras), ("dependency-groups", groups)):
        if not isinstance(tables, dict):
            raise InputError(
                f"`{key}` must be a table of lists",
                path=project.path,
                line=line_of(project.data, key),
            )
    for name, items in extras.items():
        yield from _strings(project, f"optional-dependencies.{name}", items)
    known_groups = {canonicalize_name(g) for g in groups}
    for name, items in groups.items():
        for item in items if isinstance(items, list) else [items]:
            # PEP 735: `{include-group = "x"}` pulls in another group of this file,
            # whose requirements this loop reads anyway; only its name needs checking.
            if isinstance(item, dict) and set(item) == {"include-group"}:
                included = item["include-group"]
                if not isinstance(included, str) or canonicalize_name(included) not in known_groups:
                    raise InputError(
                        f"dependency group {name!r} includes unknown group {included!r}",
                        path=project.path,
                        line=line_containing(project.data, f'"{included}"')
                        or line_containing(project.data, "include-group"),
                    )
            else:
                yield from _strings(project, f"dependency-groups.{name}", [item])
    yield from _strings(
        project, "tool.uv.dev-dependencies", project.table("tool", "uv", "dev-dependencies")
    )


def _strings(project: Manifest, key: str, value: Any) -> Iterator[tuple[str, str]]:
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(
            f"`{key}` must be a list of requirement strings",
            path=project.path,
            line=line_of(project.data, key.rsplit(".", 1)[-1]),
        )
    for text in value:
        yield key, text
