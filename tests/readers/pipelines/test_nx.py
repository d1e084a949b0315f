"""nx.json, project.json and package.json nx -> TaskSpecs: mapping, warnings, errors."""

from __future__ import annotations

import json

import pytest

from graphkit.errors import InputError
from graphkit.labels import Label
from graphkit.model import TaskSpec
from graphkit.readers.pipelines.nx import import_nx
from graphkit.readers.pipelines.projects import Imported, Project

PROJECTS = {
    "": Project("", Label("", "root"), "monorepo", frozenset({"format"})),
    "libs/ui": Project("libs/ui", Label("libs/ui", "ui"), "@acme/ui", frozenset({"build", "lint"})),
    "apps/web": Project("apps/web", Label("apps/web", "web"), "web", frozenset({"test"})),
}
MANIFESTS = {
    "package.json": b"{}",
    "libs/ui/package.json": b'{"name": "@acme/ui"}',
    "apps/web/package.json": json.dumps(
        {"name": "web", "nx": {"targets": {"test": {"outputs": ["{projectRoot}/coverage"]}}}}
    ).encode(),
}


def read(nx: object, **projects: object) -> Imported:
    files = {"nx.json": json.dumps(nx, indent=2).encode()}
    files.update((p, json.dumps(d, indent=2).encode()) for p, d in projects.items())
    return import_nx(files, MANIFESTS, PROJECTS)


def specs(imported: Imported) -> dict[str, dict[str, TaskSpec]]:
    return {f: {s.name: s for s in found} for f, found in imported.tasks.items()}


NX = {
    "namedInputs": {
        "default": ["{projectRoot}/**/*", "sharedGlobals"],
        "sharedGlobals": ["{workspaceRoot}/babel.config.json", {"env": "NODE_ENV"}],
        "production": ["default", "!{projectRoot}/**/*.spec.ts"],
    },
    "targetDefaults": {
        "build": {
            "dependsOn": ["^build", {"projects": ["web"], "target": "codegen"}],
            "inputs": ["production", "^production"],
            "outputs": ["{projectRoot}/dist", "{workspaceRoot}/coverage/{projectRoot}/lcov.info"],
            "cache": True,
        },
        "nx:run-commands": {"cache": True},
        "e2e-*": {"dependsOn": [{"dependencies": True, "target": "build"}]},
    },
}


def test_scripts_targets_and_defaults_merge_as_nx_infers_them() -> None:
    found = specs(read(NX))
    assert found[""] == {}  # the root is no project without project.json or an nx field
    build = found["libs/ui"]["build"]
    assert build == TaskSpec(
        name="build",
        command="cd {package} && npm run --if-present build",
        outputs=("{package}/dist/", "coverage/libs/ui/lcov.info"),
        env=("NODE_ENV",),
        needs=("^build", "//apps/web:web#codegen"),
        inputs=("**/*", "//babel.config.json", "!**/*.spec.ts"),
        cache=True,
        script="build",
    )
    assert found["libs/ui"]["lint"].cache is False  # nx 17+: cached only when told
    assert found["apps/web"]["test"].outputs == ("{package}/coverage/",)  # the nx field


def test_project_json_run_commands_and_a_project_of_its_own() -> None:
    project = {
        "name": "docs",
        "implicitDependencies": ["@acme/ui"],
        "targets": {
            "build": {
                "executor": "nx:run-commands",
                "options": {"commands": ["tsc -p {projectRoot}", "echo '{ok}'"], "cwd": "."},
                "outputs": ["{options.outputPath}"],
            },
            "e2e-ci": {"command": "playwright test", "continuous": True},
            "serve": {"executor": "@nx/vite:dev-server"},
        },
    }
    nx = {"targetDefaults": {**NX["targetDefaults"], "build": {"cache": True}}}
    with pytest.raises(InputError, match="names an option the target does not set"):
        read(nx, **{"docs/project.json": project})
    project["targets"]["build"]["options"]["outputPath"] = "dist/docs"  # type: ignore[index]
    imported = read(nx, **{"docs/project.json": project})
    (target,) = imported.packages["docs"].targets
    assert (target.label, target.aliases) == (Label("docs", "docs"), ("docs",))
    assert imported.deps == {"docs": (Label("libs/ui", "ui"),)}
    found = specs(imported)["docs"]
    assert found["build"].command == (
        'NX_WORKSPACE_ROOT="$PWD" && export NX_WORKSPACE_ROOT && cd . && '
        "(tsc -p {package}) && (echo '{{ok}')"
    )
    assert (found["build"].outputs, found["build"].script) == (("dist/docs/",), None)
    assert found["e2e-ci"].persistent and found["e2e-ci"].needs == ("^build",)
    assert "serve" not in found
    assert [str(w) for w in imported.warnings] == [
        "docs/project.json:26: targets.serve.executor is not supported; ignored ('@nx/vite:"
        "dev-server': graphkit runs nx:run-commands and nx:run-script only; this target is "
        "left out)",
    ]


def test_unmappable_nx_settings_warn_once_each() -> None:
    nx = {"nxCloudAccessToken": "x", "plugins": ["@nx/vite/plugin"], "targetDefaults": {}}
    warnings = [str(w) for w in read(nx).warnings]
    assert warnings == [
        "nx.json:2: nxCloudAccessToken is not supported; ignored (point `graphkit run "
        "--remote-cache` at a REAPI cache (docs/cache.md))",
        "nx.json:3: plugins is not supported; ignored (targets that plugins infer are not "
        "imported; declare them in project.json)",
    ]


@pytest.mark.parametrize(
    ("nx", "error"),
    [
        ({"targetDefaults": []}, "nx.json:2: `targetDefaults` must be an object"),
        (
            {"targetDefaults": {"build": {"inputs": ["prod"]}}},
            "nx.json:4: input 'prod' is neither a named input",
        ),
        (
            {"targetDefaults": {"build": {"dependsOn": [{"projects": ["nope"], "target": "x"}]}}},
            "nx.json:4: build.dependsOn names project 'nope', which is not a project",
        ),
        ({"targetDefaults": {"build": {"cache": "yes"}}}, "nx.json:4: build.cache must be"),
    ],
)
def test_malformed_nx_json_is_an_input_error_naming_the_file(nx: object, error: str) -> None:
    with pytest.raises(InputError) as caught:
        read(nx)
    assert str(caught.value).startswith(error), str(caught.value)


def test_invalid_json_names_its_line() -> None:
    with pytest.raises(InputError, match=r"nx\.json:3: invalid JSON"):
        import_nx({"nx.json": b'{\n  "targetDefaults": {\n   ]\n}'}, MANIFESTS, PROJECTS)
