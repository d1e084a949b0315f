"""turbo.json -> TaskSpecs for each npm package: fields, overrides, warnings, errors."""

from __future__ import annotations

import json

import pytest

from graphkit.errors import InputError
from graphkit.labels import Label
from graphkit.model import TaskSpec
from graphkit.readers.pipelines.jsonc import load_jsonc, strip
from graphkit.readers.pipelines.projects import Project
from graphkit.readers.pipelines.turbo import import_turbo

PROJECTS = {
    "": Project("", Label("", "root"), "monorepo", frozenset({"lint"})),
    "packages/ui": Project("packages/ui", Label("packages/ui", "ui"), "@acme/ui"),
    "apps/web": Project("apps/web", Label("apps/web", "web"), "web"),
}


def tasks(files: dict[str, str]) -> dict[str, dict[str, TaskSpec]]:
    imported = import_turbo({p: t.encode() for p, t in files.items()}, PROJECTS)
    return {folder: {s.name: s for s in specs} for folder, specs in imported.tasks.items()}


def warnings(files: dict[str, str]) -> list[str]:
    imported = import_turbo({p: t.encode() for p, t in files.items()}, PROJECTS)
    return [str(w) for w in imported.warnings]


def test_every_field_maps_onto_the_task_of_each_package_but_the_root() -> None:
    turbo = {
        "globalEnv": ["CI"],
        "globalPassThroughEnv": ["HOME"],
        "tasks": {
            "build": {
                "dependsOn": ["^build", "codegen", "@acme/ui#gen", "//#setup"],
                "outputs": ["dist/**", "!dist/cache/**", "$TURBO_ROOT$/out/web/**"],
                "inputs": ["$TURBO_DEFAULT$", "!README.md", "$TURBO_ROOT$/tsconfig.json"],
                "env": ["NEXT_PUBLIC_*", "!NEXT_PUBLIC_GIT_SHA"],
                "passThroughEnv": ["AWS_TOKEN"],
            },
            "dev": {"cache": False, "persistent": True},
        },
    }
    found = tasks({"turbo.json": json.dumps(turbo)})
    assert found[""] == {}  # generic tasks never reach the root package
    build = found["apps/web"]["build"]
    assert build == TaskSpec(
        name="build",
        command="cd {package} && npm run --if-present build",
        outputs=("{package}/dist/**", "!{package}/dist/cache/**", "out/web/**"),
        env=("!NEXT_PUBLIC_GIT_SHA", "CI", "NEXT_PUBLIC_*"),
        needs=("^build", "codegen", "//packages/ui:ui#gen", "//:root#setup"),
        inputs=("$default", "!README.md", "//tsconfig.json"),
        pass_env=("AWS_TOKEN", "HOME"),
        script="build",
    )
    dev = found["packages/ui"]["dev"]
    assert (dev.cache, dev.persistent, dev.needs, dev.inputs) == (False, True, (), None)


def test_root_tasks_package_tasks_and_package_configurations_override_in_turbos_order() -> None:
    turbo = {
        "tasks": {
            "//#lint": {"inputs": ["**/*.ts"]},
            "build": {"outputs": ["dist/**"], "dependsOn": ["^build"]},
            "web#build": {"outputs": [".next/**"]},
            "test": {"dependsOn": ["build"], "outputs": ["coverage/**"]},
        }
    }
    package = {
        "extends": ["//"],
        "tasks": {"test": {"outputs": ["$TURBO_EXTENDS$", "junit.xml"]}, "e2e": {}},
    }
    found = tasks({"turbo.json": json.dumps(turbo), "packages/ui/turbo.json": json.dumps(package)})
    assert list(found[""]) == ["lint"]
    assert found[""]["lint"].inputs == ("**/*.ts",)
    # pkg#task replaces the generic definition: no ^build there.
    assert found["apps/web"]["build"].outputs == ("{package}/.next/**",)
    assert found["apps/web"]["build"].needs == ()
    assert found["packages/ui"]["build"].needs == ("^build",)
    ui_test = found["packages/ui"]["test"]
    assert ui_test.outputs == ("{package}/coverage/**", "{package}/junit.xml")
    assert ui_test.needs == ("build",)  # fields the package does not set are inherited
    assert "e2e" in found["packages/ui"] and "e2e" not in found["apps/web"]


def test_turbo_1_pipeline_reads_alike_and_dollar_depends_on_is_an_env_var() -> None:
    turbo = {"pipeline": {"build": {"dependsOn": ["^build", "$API_URL"], "outputMode": "full"}}}
    found = tasks({"turbo.json": json.dumps(turbo)})
    assert found["apps/web"]["build"].env == ("API_URL",)
    assert found["apps/web"]["build"].needs == ("^build",)
    assert warnings({"turbo.json": json.dumps(turbo, indent=2)}) == [
        "turbo.json:8: pipeline.build.outputMode is not supported; ignored "
        "(graphkit prints every task's output on failure only)"
    ]


def test_each_unmappable_setting_is_one_warning_naming_file_and_field() -> None:
    turbo = (
        '{\n  "ui": "tui",\n  "remoteCache": {"signature": true},\n  "tasks": {\n'
        '    "dev": {"interactive": true, "outputLogs": "new-only"}\n  }\n}\n'
    )
    assert warnings({"turbo.json": turbo, "docs/turbo.json": "{}"}) == [
        "turbo.json:3: remoteCache is not supported; ignored (point `graphkit run "
        "--remote-cache` at a REAPI cache (docs/cache.md))",
        "turbo.json:5: tasks.dev.interactive is not supported; ignored "
        "(graphkit tasks read no terminal input)",
        "turbo.json:5: tasks.dev.outputLogs is not supported; ignored "
        "(graphkit prints every task's output on failure only)",
        "docs/turbo.json: not in a workspace package; this turbo.json is ignored",
    ]


@pytest.mark.parametrize(
    ("turbo", "error"),
    [
        ('{\n  "tasks": {\n    "build": {\n', "turbo.json:4: invalid JSON"),
        ('{"tasks": []}', "turbo.json:1: `tasks` must be an object of tasks"),
        (
            '{\n "tasks": {\n  "build": {\n   "outputs": "dist/**"\n  }\n }\n}',
            "turbo.json:4: build.outputs must be a list of strings",
        ),
        ('{\n "tasks": {\n  "build": {"cache": "no"}}}', "turbo.json:3: build.cache must be"),
        (
            '{\n "tasks": {\n  "build": {"dependsOn": ["nope#build"]}}}',
            "turbo.json:3: task 'build' depends on 'nope#build': 'nope' is not a workspace",
        ),
        (
            '{\n "tasks": {\n  "ghost#build": {}}}',
            "turbo.json:3: task 'ghost#build' names package 'ghost'",
        ),
        (
            '{"tasks": {"build": {"outputs": ["../../../etc/**"]}}}',
            "turbo.json:1: output '../../../etc/**' leaves the workspace",
        ),
    ],
)
def test_malformed_turbo_json_is_an_input_error_with_its_line(turbo: str, error: str) -> None:
    with pytest.raises(InputError) as caught:
        tasks({"turbo.json": turbo})
    assert str(caught.value).startswith(error), str(caught.value)


def test_jsonc_comments_and_trailing_commas_keep_line_numbers() -> None:
    text = '{\n  // a comment\n  "a": [1, 2,], /* two\n lines */ "b": "//kept",\n}'
    assert strip(text).count("\n") == text.count("\n")
    assert load_jsonc(text.encode(), "x.json") == {"a": [1, 2], "b": "//kept"}
    with pytest.raises(InputError, match=r"x\.json:1: must hold an object"):
        load_jsonc(b"[]", "x.json")
