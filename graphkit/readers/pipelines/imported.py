"""Pipelines imported from turbo.json or nx.json, attached to the packages they reach.

A repository configured for turbo or nx runs under ``graphkit run`` as it is: the
import gives each npm package the tasks its pipeline defines (the ``tasks`` target
attribute, see ``graphkit.model.TASKS_ATTR``), in place of the built-in npm rule's.
Explicit graphkit configuration wins: a BUILD.toml folder is not an npm package, and
a workspace rule file's task wins over an imported one (``BuildGraph.task_spec``).
A repository with both files is read as turbo's, with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from graphkit.errors import InputWarning
from graphkit.model import TASKS_ATTR, Package, tasks_to_attr
from graphkit.readers.pipelines import nx, turbo
from graphkit.readers.pipelines.projects import Imported, projects_of

PIPELINE_NAMES = frozenset({turbo.TURBO_FILE, nx.NX_FILE, nx.PROJECT_FILE})
_SKIPPED = frozenset({"node_modules", ".git", ".nx", ".turbo"})


def is_pipeline_file(path: str) -> bool:
    """True for a turbo.json, nx.json or project.json outside installed packages."""
    parts = path.split("/")
    return parts[-1] in PIPELINE_NAMES and not _SKIPPED.intersection(parts[:-1])


def import_pipelines(
    files: Mapping[str, bytes], manifests: Mapping[str, bytes], packages: Mapping[str, Package]
) -> tuple[dict[str, Package], Imported]:
    """``packages`` with the tasks the pipeline files (``{path: bytes}``) give them.

    ``manifests`` are the ecosystem manifests' bytes (nx reads package.json scripts and
    its ``nx`` field). Returns the packages (nx may add projects that only have a
    project.json) and the import's global inputs and warnings.
    """
    projects = projects_of(packages)
    warnings: list[InputWarning] = []
    turbo_files = {p: d for p, d in files.items() if p.rpartition("/")[2] == turbo.TURBO_FILE}
    nx_files = {p: d for p, d in files.items() if p not in turbo_files}
    if turbo.TURBO_FILE in turbo_files:
        imported = turbo.import_turbo(turbo_files, projects)
        if nx.NX_FILE in nx_files:
            warnings.append(
                InputWarning(nx.NX_FILE, None, "turbo.json is read instead; nx.json is ignored")
            )
    elif nx.NX_FILE in nx_files:
        imported = nx.import_nx(nx_files, manifests, projects)
    else:
        return dict(packages), Imported({})
    found = {**packages, **imported.packages}
    for folder, specs in imported.tasks.items():
        package = found[folder]
        (target,) = package.targets
        attrs = dict(target.attrs)
        attrs[TASKS_ATTR] = tasks_to_attr(specs)
        deps = tuple(sorted(set(target.deps) | set(imported.deps.get(folder, ()))))
        target = replace(target, attrs=tuple(sorted(attrs.items())), deps=deps)
        found[folder] = replace(package, targets=(target,))
    return found, replace(imported, warnings=(*warnings, *imported.warnings))
