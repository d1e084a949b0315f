"""What a pipeline import (turbo.json, nx.json) needs to know of a workspace's packages,
and what it gives back.

turbo and nx name packages by their package.json ``name`` (nx also by a
project.json ``name``); graphkit names them by label. A ``Project`` holds both, and
the scripts its package.json defines (a task whose script is missing does nothing, as
in turbo). ``Imported`` is the result of an import: the tasks of each package, the
files every task's key covers, and one warning per setting that could not be mapped.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from graphkit.errors import InputError, InputWarning
from graphkit.labels import Label
from graphkit.model import Package, TaskSpec

NPM_RULE = "npm_package"


@dataclass(frozen=True)
class Project:
    """One package a pipeline import may give tasks to."""

    folder: str  # repo-relative, "" for the root
    label: Label
    name: str | None  # the package.json (or project.json) name
    scripts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Imported:
    """What an import gives: tasks by package folder, global inputs and env, warnings."""

    tasks: Mapping[str, tuple[TaskSpec, ...]]
    global_inputs: tuple[str, ...] = ()  # repo-relative globs every key covers
    warnings: tuple[InputWarning, ...] = ()
    # Packages the import adds (nx projects with a project.json and no package.json).
    packages: Mapping[str, Package] = field(default_factory=dict)
    # Deps the pipeline declares beyond the manifests' (nx implicitDependencies), by folder.
    deps: Mapping[str, tuple[Label, ...]] = field(default_factory=dict)


def projects_of(packages: Mapping[str, Package]) -> dict[str, Project]:
    """The npm packages among ``packages``, by folder."""
    found = {}
    for folder, package in packages.items():
        target = package.targets[0]
        if target.rule != NPM_RULE:
            continue
        scripts = dict(target.attrs).get("scripts")
        names = json.loads(scripts) if scripts else {}
        found[folder] = Project(
            folder=folder,
            label=target.label,
            name=target.aliases[0] if target.aliases else None,
            scripts=frozenset(names),
        )
    return found


def script_command(script: str) -> str:
    """The command that runs a package.json script from the workspace root.

    Through npm whatever the package manager: it runs any workspace's scripts, and a
    missing script is no error (``--if-present``), as turbo skips such packages.
    """
    return f"cd {{package}} && npm run --if-present {template_text(shlex.quote(script))}"


def template_text(text: str) -> str:
    """``text`` as literal text in a task template (braces are placeholders there)."""
    return text.replace("{", "{{")


def output_glob(folder: str, glob: str, *, what: str, path: str, line: int | None) -> str:
    """A package-relative output glob as an output template: ``{package}/dist/**``, or
    repo-relative when it climbs out of the package (``../shared/gen/**``)."""
    negated, body, joined = _relative(folder, glob, what=what, path=path, line=line)
    place = joined if body.startswith("..") else "{package}/" + body
    return ("!" if negated else "") + place


def input_glob(folder: str, glob: str, *, what: str, path: str, line: int | None) -> str:
    """A package-relative input glob as TaskSpec.inputs spells it: as it is, or ``//``
    and repo-relative when it climbs out of the package."""
    negated, body, joined = _relative(folder, glob, what=what, path=path, line=line)
    place = "//" + joined if body.startswith("..") else body
    return ("!" if negated else "") + place


def _relative(
    folder: str, glob: str, *, what: str, path: str, line: int | None
) -> tuple[bool, str, str]:
    negated = glob.startswith("!")
    body = glob[1:] if negated else glob
    while body.startswith("./"):
        body = body[2:]
    if not body or body.startswith("/") or "\\" in body:
        raise InputError(f"{what} {glob!r} is not a relative path", path=path, line=line)
    joined = posixpath.normpath(posixpath.join(folder or ".", body))
    if joined == ".." or joined.startswith("../"):
        raise InputError(f"{what} {glob!r} leaves the workspace", path=path, line=line)
    if any(part.lower() == ".git" for part in joined.split("/")):
        raise InputError(f"{what} {glob!r} is inside .git", path=path, line=line)
    return negated, body, joined


def repo_glob(glob: str, *, what: str, path: str, line: int | None) -> str:
    """A repo-relative glob, checked to stay inside the workspace."""
    _relative("", glob, what=what, path=path, line=line)
    negated = glob.startswith("!")
    body = glob[1:] if negated else glob
    while body.startswith("./"):
        body = body[2:]
    return ("!" if negated else "") + body
