"""Pipelines attached to packages: tasks on targets, nx deps, turbo over nx."""

from __future__ import annotations

import json

from graphkit.labels import Label
from graphkit.model import TASKS_ATTR, Package, tasks_from_attr
from graphkit.readers.manifests import ecosystems
from graphkit.readers.pipelines.imported import import_pipelines, is_pipeline_file
from graphkit.readers.pipelines.projects import Imported

MANIFESTS = {
    "package.json": json.dumps({"name": "root", "workspaces": ["libs/*"]}).encode(),
    "libs/a/package.json": json.dumps({"name": "a", "scripts": {"build": "tsc"}}).encode(),
    "libs/b/package.json": json.dumps({"name": "b", "scripts": {"build": "tsc"}}).encode(),
}


def attach(pipelines: dict[str, object]) -> tuple[dict[str, Package], Imported]:
    packages, _warnings = ecosystems.read_all(MANIFESTS)
    files = {p: json.dumps(d).encode() for p, d in pipelines.items()}
    return import_pipelines(files, MANIFESTS, packages)


def test_nx_implicit_dependencies_become_deps_and_tasks_sit_on_the_target() -> None:
    nx = {"targetDefaults": {"build": {"dependsOn": ["^build"], "cache": True}}}
    project = {"name": "b", "implicitDependencies": ["a"]}
    packages, imported = attach({"nx.json": nx, "libs/b/project.json": project})
    (b,) = packages["libs/b"].targets
    assert b.deps == (Label("libs/a", "a"),)
    tasks = tasks_from_attr(dict(b.attrs)[TASKS_ATTR])
    assert tasks["build"].needs == ("^build",) and tasks["build"].cache
    assert tasks_from_attr(dict(packages[""].targets[0].attrs)[TASKS_ATTR]) == {}
    assert imported.warnings == ()


def test_turbo_is_read_when_both_are_there_and_nx_json_is_a_warning() -> None:
    packages, imported = attach({"turbo.json": {"tasks": {"build": {}}}, "nx.json": {}})
    (a,) = packages["libs/a"].targets
    assert list(tasks_from_attr(dict(a.attrs)[TASKS_ATTR])) == ["build"]
    assert [str(w) for w in imported.warnings] == [
        "nx.json: turbo.json is read instead; nx.json is ignored"
    ]


def test_pipeline_files_under_installed_packages_are_not_read() -> None:
    assert is_pipeline_file("apps/web/turbo.json")
    assert is_pipeline_file("libs/x/project.json")
    assert not is_pipeline_file("node_modules/nx/project.json")
    assert not is_pipeline_file("apps/web/node_modules/x/turbo.json")
    assert not is_pipeline_file("apps/web/tsconfig.json")
