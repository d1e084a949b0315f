"""npm / yarn / pnpm workspaces -> Packages: membership, deps, aliases, attrs and errors."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from depkinds import edge_kinds

from graphkit.errors import InputError
from graphkit.labels import Label
from graphkit.model import Package, Target, canonical_json
from graphkit.readers.manifests.npm import MANIFESTS, read_packages, read_workspace

ROOT = b"""\
{
  "name": "acme",
  "private": true,
  "packageManager": "npm@10.8.2",
  "workspaces": ["apps/*", "packages/*", "!packages/legacy"],
  "scripts": {
    "build": "turbo run build",
    "test": "turbo run test"
  },
  "devDependencies": {
    "prettier": "^3.3.3",
    "turbo": "^2.1.3"
  }
}
"""

WEB = b"""\
{
  "name": "web",
  "version": "0.1.0",
  "private": true,
  "scripts": {
    "build": "next build",
    "dev": "next dev --port 3000",
    "test": "vitest run"
  },
  "dependencies": {
    "@acme/ui": "*",
    "@acme/utils": "workspace:^",
    "next": "14.2.5",
    "react": "18.3.1"
  },
  "devDependencies": {
    "@acme/eslint-config": "workspace:*",
    "vitest": "^2.0.5"
  }
}
"""

DOCS = b"""\
{
  "name": "docs",
  "version": "0.1.0",
  "private": true,
  "dependencies": {
    "@acme/ui": "file:../../packages/ui",
    "utils-next": "npm:@acme/utils@^0.1.0"
  }
}
"""

UI = b"""\
{
  "name": "@acme/ui",
  "version": "0.1.0",
  "main": "./dist/index.js",
  "types": "./dist/index.d.ts",
  "scripts": {
    "build": "tsc -p tsconfig.build.json",
    "lint": "eslint src/"
  },
  "dependencies": {
    "@acme/ui": "workspace:*",
    "@acme/utils": "^0.1.0",
    "clsx": "^2.1.1"
  },
  "peerDependencies": {
    "react": "^18.2.0"
  }
}
"""

UTILS = b"""\
{
  "name": "@acme/utils",
  "version": "0.1.0",
  "type": "module",
  "exports": {
    ".": "./src/index.ts"
  }
}
"""

ESLINT = b"""\
{
  "name": "@acme/eslint-config",
  "version": "0.0.0",
  "main": "index.js",
  "optionalDependencies": {
    "@acme/utils": "0.1.0"
  }
}
"""

LEGACY = b'{"name": "@acme/legacy", "dependencies": {"@acme/ui": "*"}}\n'

REPO = {
    "package.json": ROOT,
    "apps/web/package.json": WEB,
    "apps/docs/package.json": DOCS,
    "packages/ui/package.json": UI,
    "packages/utils/package.json": UTILS,
    "packages/eslint-config/package.json": ESLINT,
    "packages/legacy/package.json": LEGACY,
    # Not under any workspace glob: a standalone tool, not a member.
    "tools/release/package.json": b'{"name": "release", "dependencies": {"@acme/ui": "*"}}',
}


def package(
    folder: str,
    data: bytes,
    alias: str | None,
    deps: list[str],
    line: int = 2,
    *,
    kinds: dict[str, str] | None = None,
) -> Package:
    """The Package a member should become, attributes computed from its own bytes."""
    doc = json.loads(data)
    name = folder.rsplit("/", 1)[-1] if folder else "root"
    manifest = f"{folder}/package.json" if folder else "package.json"
    target = Target(
        label=Label(folder, name),
        rule="npm_package",
        srcs=None,
        deps=tuple(Label(d, d.rsplit("/", 1)[-1]) for d in deps),
        attrs=(
            ("manifest_doc", canonical_json(doc)),
            ("scripts", canonical_json(doc.get("scripts", {}))),
        ),
        aliases=(alias,) if alias else (),
        **edge_kinds(kinds, dev_carries=True),
        manifest=manifest,
        line=line,
    )
    return Package(path=folder, manifest=manifest, targets=(target,))


def error_of(files: dict[str, bytes]) -> str:
    with pytest.raises(InputError) as caught:
        read_packages(files)
    return str(caught.value)


def test_manifests_names_the_files_to_collect() -> None:
    assert MANIFESTS == (
        "package.json",
        "pnpm-workspace.yaml",
        ".npmrc",
        ".yarnrc.yml",
        ".yarnrc",
        ".nvmrc",
        ".node-version",
        ".pnpmfile.cjs",
    )


def test_npm_workspace_reads_every_member_with_deps_between_them() -> None:
    assert own(read_packages(REPO)) == (
        package("", ROOT, "acme", []),
        package("apps/docs", DOCS, "docs", ["packages/ui", "packages/utils"]),
        package(
            "apps/web",
            WEB,
            "web",
            ["packages/eslint-config", "packages/ui", "packages/utils"],
            kinds={"packages/eslint-config": "dev"},
        ),
        package(
            "packages/eslint-config",
            ESLINT,
            "@acme/eslint-config",
            ["packages/utils"],
            kinds={"packages/utils": "optional"},
        ),
        package("packages/ui", UI, "@acme/ui", ["packages/utils"]),
        package("packages/utils", UTILS, "@acme/utils", []),
    )


def test_dev_dependencies_are_dev_edges_that_carry() -> None:
    """A workspace package in devDependencies is often a build tool whose output
    lands in the dependent's dist, so the edge carries to dependents (no test_deps)."""
    web = next(p for p in read_packages(REPO) if p.path == "apps/web").targets[0]
    assert web.kind_of(Label("packages/eslint-config", "eslint-config")) == "dev"
    assert web.kind_of(Label("packages/ui", "ui")) == "normal"
    assert web.test_deps == ()


def test_a_devdependency_cycle_is_read_as_it_is() -> None:
    """jest: packages devDepend on each other; the reader keeps both edges."""
    files = {
        "package.json": b'{"name": "root", "workspaces": ["packages/*"]}',
        "packages/jest-a/package.json": b'{"name": "jest-a", "devDependencies": {"jest-b": "*"}}',
        "packages/jest-b/package.json": b'{"name": "jest-b", "dependencies": {"jest-a": "*"}}',
    }
    a, b = (p.targets[0] for p in read_packages(files) if p.path)
    assert a.deps == (b.label,) and a.dep_kinds == ((b.label, "dev"),)
    assert b.deps == (a.label,) and b.dep_kinds == ()


def test_target_keeps_position_and_scripts_for_tasks() -> None:
    web = next(p for p in read_packages(REPO) if p.path == "apps/web").targets[0]
    assert (web.manifest, web.line) == ("apps/web/package.json", 2)
    assert dict(web.attrs)["scripts"] == (
        '{"build":"next build","dev":"next dev --port 3000","test":"vitest run"}'
    )


def test_reformatting_a_manifest_keeps_the_definition_but_a_bump_changes_it() -> None:
    compact = json.dumps(json.loads(UTILS), indent=None).encode()
    bumped = UTILS.replace(b'"0.1.0"', b'"0.2.0"')
    before = read_packages(REPO)
    assert read_packages({**REPO, "packages/utils/package.json": compact}) == before
    assert read_packages({**REPO, "packages/utils/package.json": bumped}) != before


def test_yarn_object_form_reads_packages_and_ignores_nohoist() -> None:
    root = b'{"private": true, "workspaces": {"packages": ["packages/*"], "nohoist": ["**/rn"]}}'
    files = {"package.json": root, "packages/ui/package.json": UI}
    files["packages/utils/package.json"] = UTILS
    assert [(p.path, p.targets[0].deps) for p in read_packages(files)] == [
        ("", ()),
        ("packages/ui", (Label("packages/utils", "utils"),)),
        ("packages/utils", ()),
    ]
    # A root without a name is still the workspace root; it has no alias.
    assert read_packages(files)[0].targets[0].aliases == ()
    assert read_packages(files)[0].targets[0].label == Label("", "root")


def test_pnpm_workspace_yaml_wins_and_honours_exclusions() -> None:
    pnpm = b"""\
packages:
  # every app and package, but not the fixtures
  - 'apps/**'
  - packages/*
  - '!**/fixtures/**'
catalog:
  react: ^18.3.1
"""
    files = {
        "package.json": b'{"name": "acme", "workspaces": ["nothing/*"]}',
        "pnpm-workspace.yaml": pnpm,
        "apps/web/package.json": WEB,
        "apps/mobile/ios/package.json": b'{"name": "ios", "dependencies": {"web": "workspace:*"}}',
        "apps/web/fixtures/basic/package.json": b'{"name": "fixture-basic"}',
        "packages/ui/package.json": UI,
        "packages/utils/package.json": UTILS,
    }
    assert [(p.path, [str(d) for d in p.targets[0].deps]) for p in read_packages(files)] == [
        ("", []),
        ("apps/mobile/ios", ["//apps/web:web"]),
        ("apps/web", ["//packages/ui:ui", "//packages/utils:utils"]),
        ("packages/ui", ["//packages/utils:utils"]),
        ("packages/utils", []),
    ]


def test_pnpm_members_may_share_a_name() -> None:
    """vite: pnpm-workspace.yaml takes `packages/**/__tests__/**`, and two of those
    fixtures are both named `mylib`. pnpm allows that (npm and yarn refuse it), and
    it stopped every run on the repository with exit 2. Both are packages; a dep on
    the name counts on each."""
    files = {
        "pnpm-workspace.yaml": b"packages:\n  - 'packages/**'\n",
        "packages/app/package.json": b'{"name": "app", "dependencies": {"mylib": "workspace:*"}}',
        "packages/tests/module/package.json": b'{"name": "mylib", "type": "module"}',
        "packages/tests/name/package.json": b'{"name": "mylib"}',
    }
    assert [(p.path, [str(d) for d in p.targets[0].deps]) for p in read_packages(files)] == [
        ("packages/app", ["//packages/tests/module:module", "//packages/tests/name:name"]),
        ("packages/tests/module", []),
        ("packages/tests/name", []),
    ]
    # npm's own workspaces refuse it, and so does graphkit.
    npm = {k: v for k, v in files.items() if k != "pnpm-workspace.yaml"}
    npm["package.json"] = b'{"workspaces": ["packages/**"]}'
    assert "two npm packages named 'mylib'" in error_of(npm)


def test_pnpm_workspace_without_packages_is_the_root_alone() -> None:
    files = {
        "pnpm-workspace.yaml": b"catalog:\n  react: ^18.3.1\n",
        "package.json": b'{"name": "solo"}',
        "test/fixture/package.json": b'{"name": "fixture"}',
    }
    assert [p.targets[0].label for p in read_packages(files)] == [Label("", "root")]


def test_without_a_workspace_every_named_package_json_is_a_package() -> None:
    files = {
        "frontend/package.json": (
            b'{"name": "frontend", "dependencies": {"shared": "file:../shared"}}'
        ),
        "shared/package.json": b'{"name": "shared"}',
        "scratch/package.json": b'{"private": true}',
    }
    assert [(p.path, p.targets[0].deps) for p in read_packages(files)] == [
        ("frontend", (Label("shared", "shared"),)),
        ("shared", ()),
    ]


def test_a_repo_without_package_json_has_no_packages() -> None:
    assert read_packages({}) == ()


def test_file_spec_pointing_outside_the_workspace_is_ignored() -> None:
    files = {
        "package.json": b'{"workspaces": ["packages/*"]}',
        "packages/a/package.json": b'{"name": "a", "dependencies": {"b": "file:../../../b"}}',
    }
    assert read_packages(files)[1].targets[0].deps == ()


def test_invalid_json_names_file_and_line() -> None:
    broken = WEB.replace(b'"next": "14.2.5",', b'"next": "14.2.5",,')
    assert error_of({**REPO, "apps/web/package.json": broken}) == (
        "apps/web/package.json:13: invalid JSON: Expecting property name enclosed in double quotes"
    )


def test_a_package_json_that_is_not_an_object_is_an_error() -> None:
    assert error_of({"package.json": b"[]"}) == (
        "package.json:1: a package.json must hold an object, found list"
    )


def test_two_members_with_one_name_name_both_files() -> None:
    files = {**REPO, "apps/docs/package.json": DOCS.replace(b'"docs"', b'"@acme/ui"')}
    assert error_of(files) == (
        "packages/ui/package.json:2: two npm packages named '@acme/ui': "
        "apps/docs/package.json and packages/ui/package.json "
        "(names must be unique within a workspace)"
    )


def test_bad_workspaces_field_points_at_its_line() -> None:
    root = ROOT.replace(b'["apps/*", "packages/*", "!packages/legacy"]', b'"apps/*"')
    assert error_of({**REPO, "package.json": root}) == (
        'package.json:5: `workspaces` must be a list of globs or {"packages": [globs]}'
    )


def test_invalid_pnpm_yaml_names_the_line() -> None:
    files = {"pnpm-workspace.yaml": b"packages:\n  - apps/*\n - packages/*\n"}
    assert error_of(files).startswith("pnpm-workspace.yaml:3: invalid YAML: ")
    files = {"pnpm-workspace.yaml": b"packages: apps/*\n"}
    assert error_of(files) == "pnpm-workspace.yaml:1: `packages` must be a list of globs"


def test_wrongly_typed_fields_point_at_their_lines() -> None:
    assert error_of({**REPO, "packages/utils/package.json": b'{\n  "name": 7\n}'}) == (
        "packages/utils/package.json:2: `name` must be a non-empty string"
    )
    deps = WEB.replace(b'"vitest": "^2.0.5"', b'"vitest": 2')
    assert error_of({**REPO, "apps/web/package.json": deps}) == (
        "apps/web/package.json:18: the spec of 'vitest' in `devDependencies` must be a string"
    )
    table = UTILS.replace(b'"type": "module"', b'"dependencies": ["left-pad"]')
    assert error_of({**REPO, "packages/utils/package.json": table}) == (
        "packages/utils/package.json:4: `dependencies` must be an object of name: version spec"
    )
    scripts = UI.replace(b'"lint": "eslint src/"', b'"lint": ["eslint", "src/"]')
    assert error_of({**REPO, "packages/ui/package.json": scripts}) == (
        "packages/ui/package.json:6: `scripts` must be an object of command strings"
    )


def test_any_folder_name_is_a_member() -> None:
    # withastro/astro: members in `fixtures/astro pages` and `non-ascii-path/测试`.
    files = {
        "package.json": b'{"workspaces": ["fixtures/*", "non-ascii-path/*"]}',
        "fixtures/astro pages/package.json": b'{"name": "astro-pages"}',
        "non-ascii-path/测试/package.json": b'{"name": "zh"}',
    }
    assert [p.targets[0].label for p in read_packages(files)[1:]] == [
        Label("fixtures/astro pages", "astro pages"),
        Label("non-ascii-path/测试", "测试"),
    ]


def test_a_declared_workspace_never_reads_the_package_json_files_it_does_not_declare() -> None:
    # npm/cli: test fixtures with invalid JSON, bad names and one name twice.
    files = {
        "package.json": b'{"name": "npm", "workspaces": ["workspaces/*"]}',
        "workspaces/arborist/package.json": b'{"name": "@npmcli/arborist"}',
        "workspaces/arborist/test/fixtures/bad/package.json": b'{"name": "bad",,}',
        "workspaces/arborist/test/fixtures/named/package.json": b'{"name": 5}',
        "workspaces/arborist/test/fixtures/twice/package.json": b'{"name": "npm"}',
    }
    found = read_workspace(files)
    assert [p.path for p in found.packages] == ["", "workspaces/arborist"]
    assert found.warnings == ()


def test_without_a_workspace_an_unreadable_package_json_is_a_warning() -> None:
    files = {
        "app/package.json": b'{"name": "app"}',
        "test/fixtures/broken/package.json": b'{"name": "broken",\n}',
        "test/fixtures/named/package.json": b'{\n  "name": 5\n}',
    }
    found = read_workspace(files)
    assert [p.path for p in found.packages] == ["app"]
    assert [str(w) for w in found.warnings] == [
        "test/fixtures/broken/package.json:2: invalid JSON: Expecting property name enclosed "
        "in double quotes; not a workspace member",
        "test/fixtures/named/package.json:2: `name` must be a non-empty string; "
        "not a workspace member",
    ]


def test_a_member_of_a_nested_workspace_root_must_be_valid() -> None:
    # testdata/monorepo: js/package.json declares ["ui", "app"] below the repository root.
    files = {
        "js/package.json": b'{"private": true, "workspaces": ["ui", "app"]}',
        "js/ui/package.json": b'{"name": "@acme/ui"}',
        "js/app/package.json": b'{"name": "@acme/app", "dependencies": {"@acme/ui": "*"}}',
    }
    assert [(p.path, p.targets[0].deps) for p in read_packages(files)] == [
        ("js/app", (Label("js/ui", "ui"),)),
        ("js/ui", ()),
    ]
    assert error_of({**files, "js/ui/package.json": b'{"name": 5}'}) == (
        "js/ui/package.json:1: `name` must be a non-empty string"
    )
    assert error_of({**files, "js/ui/package.json": b"{"}).startswith(
        "js/ui/package.json:1: invalid JSON"
    )


def test_separate_nested_workspaces_may_reuse_a_member_name() -> None:
    # Two fixture workspaces, each with its own `@acme/ui`: both are members, and a
    # dep on the name counts on both (which one is meant is not known).
    def fixture(root: str) -> dict[str, bytes]:
        return {
            f"{root}/package.json": b'{"private": true, "workspaces": ["ui", "app"]}',
            f"{root}/ui/package.json": b'{"name": "@acme/ui"}',
            f"{root}/app/package.json": b'{"name": "@acme/app-%s", "dependencies": '
            b'{"@acme/ui": "*"}}' % root[-1:].encode(),
        }

    files = {**fixture("fixtures/a"), **fixture("fixtures/b")}
    both = (Label("fixtures/a/ui", "ui"), Label("fixtures/b/ui", "ui"))
    assert [(p.path, p.targets[0].deps) for p in read_packages(files)] == [
        ("fixtures/a/app", both),
        ("fixtures/a/ui", ()),
        ("fixtures/b/app", both),
        ("fixtures/b/ui", ()),
    ]
    clash = {**files, "fixtures/a/app/package.json": b'{"name": "@acme/ui"}'}
    assert error_of(clash).startswith("fixtures/a/ui/package.json:1: two npm packages named")


@pytest.mark.parametrize(
    ("workspaces", "message"),
    [
        (b'["../*"]', "workspaces pattern '../*': it leaves its folder with '..'"),
        (b'["packages/[z-a]"]', "workspaces pattern 'packages/[z-a]': '[z-a]' holds the reversed"),
        (b'["/abs/*"]', "workspaces pattern '/abs/*': it is not a relative path"),
        (b"[null]", "`workspaces` must be a list of globs"),
        (b"5", "`workspaces` must be a list of globs"),
    ],
)
def test_member_globs_that_match_nothing_they_mean_are_errors(
    workspaces: bytes, message: str
) -> None:
    root = b'{"name": "acme",\n "workspaces": ' + workspaces + b"}"
    assert error_of({"package.json": root, "packages/a/package.json": b'{"name": "a"}'}).startswith(
        "package.json:2: " + message
    )


def test_pnpm_globs_that_leave_the_repository_are_errors() -> None:
    files = {"pnpm-workspace.yaml": b"packages:\n  - '../*'\n"}
    assert error_of(files).startswith(
        "pnpm-workspace.yaml:1: packages pattern '../*': it leaves its folder"
    )


def own(packages: tuple[Package, ...]) -> tuple[Package, ...]:
    """The packages without the root configuration that reaches them (tested apart)."""
    return tuple(
        replace(
            p,
            targets=tuple(
                replace(t, attrs=tuple(a for a in t.attrs if a[0] != "root_config"))
                for t in p.targets
            ),
        )
        for p in packages
    )


DEEP = "[" * 50_000 + "]" * 50_000


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("package.json", '{"name": "acme", "workspaces": ' + DEEP + "}"),
        ("pnpm-workspace.yaml", "packages: " + DEEP + "\n"),
    ],
)
def test_manifest_nested_50000_deep_is_an_input_error(path: str, text: str) -> None:
    files = {"package.json": b'{"name": "acme"}', path: text.encode()}
    with pytest.raises(InputError) as err:
        read_packages(files)
    assert str(err.value).startswith(f"{path}:")
    assert "nested too deeply to read" in str(err.value)
