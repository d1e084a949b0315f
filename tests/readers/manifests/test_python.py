"""pyproject.toml projects and uv workspaces -> Packages: members, deps, names, errors."""

from __future__ import annotations

import tomllib
from dataclasses import replace

import pytest
from depkinds import edge_kinds

from graphkit.errors import InputError
from graphkit.labels import Label
from graphkit.model import Package, Target, canonical_json
from graphkit.readers.manifests.python import MANIFESTS, read_packages, read_workspace

ROOT = b"""\
[project]
name = "acme"
version = "0.1.0"
description = "The Acme platform"
requires-python = ">=3.11"
dependencies = ["acme-api", "Acme.Core>=0.1"]

[tool.uv.workspace]
members = ["packages/*", "services/*"]
exclude = ["packages/experimental"]

[tool.uv.sources]
acme-api = { workspace = true }
acme-core = { workspace = true }

[dependency-groups]
dev = ["pytest>=8.3", "ruff>=0.6"]
"""

CORE = b"""\
[project]
name = "acme.core"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["attrs>=23.2"]

[project.optional-dependencies]
fast = ["orjson>=3.10"]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"""

UTIL = b"""\
[project]
name = "acme_util"
version = "0.1.0"
dependencies = []
"""

TESTING = b"""\
[project]
name = "Acme-Testing"
version = "0.1.0"
dependencies = ["pytest>=8", "acme-core"]
"""

API = b"""\
[project]
name = "Acme.API"
version = "0.3.0"
requires-python = ">=3.12"
dependencies = [
    "acme-core[fast]>=0.1; python_version >= '3.11'",
    "fastapi>=0.110",
    "Acme.API[cli]",  # an extra of its own is no dependency on another member
]

[project.optional-dependencies]
cli = ["ACME_util", "typer>=0.12"]

[dependency-groups]
test = ["pytest>=8", "httpx>=0.27"]
dev = [{ include-group = "test" }, "acme-testing"]

[tool.uv.sources]
acme-core = { workspace = true }
"""

WORKER = b"""\
[project]
name = "acme-worker"
version = "0.1.0"
dependencies = ["celery>=5.4"]

[tool.uv]
dev-dependencies = ["acme-api"]

[tool.uv.sources]
acme-util = { workspace = true }
"""

REPO = {
    "pyproject.toml": ROOT,
    "packages/core/pyproject.toml": CORE,
    "packages/util/pyproject.toml": UTIL,
    "packages/testing/pyproject.toml": TESTING,
    "packages/experimental/pyproject.toml": b'[project]\nname = "acme-core"\n',
    "services/api/pyproject.toml": API,
    "services/worker/pyproject.toml": WORKER,
    # Matched by no member glob: tool settings only, not a member.
    "docs/pyproject.toml": b"[tool.ruff]\nline-length = 100\n",
}


def package(
    folder: str, data: bytes, alias: str, deps: list[str], *, kinds: dict[str, str] | None = None
) -> Package:
    """The Package a member should become, attributes computed from its own bytes."""
    doc = tomllib.loads(data.decode())
    name = folder.rsplit("/", 1)[-1] if folder else "root"
    manifest = f"{folder}/pyproject.toml" if folder else "pyproject.toml"
    attrs = [("manifest_doc", canonical_json(doc))]
    if "requires-python" in doc["project"]:
        attrs.append(("requires-python", canonical_json(doc["project"]["requires-python"])))
    target = Target(
        label=Label(folder, name),
        rule="python_package",
        srcs=None,
        deps=tuple(Label(d, d.rsplit("/", 1)[-1]) for d in deps),
        attrs=tuple(attrs),
        aliases=(alias,),
        **edge_kinds(kinds),
        manifest=manifest,
        line=1,
    )
    return Package(path=folder, manifest=manifest, targets=(target,))


def error_of(files: dict[str, bytes]) -> str:
    with pytest.raises(InputError) as caught:
        read_packages(files)
    return str(caught.value)


def deps_by_folder(files: dict[str, bytes]) -> dict[str, list[str]]:
    return {p.path: [str(d) for d in p.targets[0].deps] for p in read_packages(files)}


def test_manifests_names_the_files_to_collect() -> None:
    assert MANIFESTS == ("pyproject.toml", "uv.lock", ".python-version", "uv.toml")


def test_uv_workspace_reads_every_member_with_normalised_deps() -> None:
    assert own(read_packages(REPO)) == (
        package("", ROOT, "acme", ["packages/core", "services/api"]),
        package("packages/core", CORE, "acme-core", []),
        package("packages/testing", TESTING, "acme-testing", ["packages/core"]),
        package("packages/util", UTIL, "acme-util", []),
        package(
            "services/api",
            API,
            "acme-api",
            ["packages/core", "packages/testing", "packages/util"],
            kinds={"packages/testing": "dev", "packages/util": "optional"},
        ),
        package(
            "services/worker",
            WORKER,
            "acme-worker",
            ["packages/util", "services/api"],
            kinds={"services/api": "dev"},
        ),
    )


def test_dev_extras_are_test_only_and_other_extras_optional() -> None:
    core = b'[project]\nname = "core"\n'
    app = b"""\
[project]
name = "app"
[project.optional-dependencies]
Tests = ["core-testkit"]
server = ["core"]
"""
    files = {
        "core/pyproject.toml": core,
        "core-testkit/pyproject.toml": b'[project]\nname = "core-testkit"\n',
        "app/pyproject.toml": app,
    }
    target = next(p for p in read_packages(files) if p.path == "app").targets[0]
    testkit = Label("core-testkit", "core-testkit")
    assert target.dep_kinds == ((Label("core", "core"), "optional"), (testkit, "dev"))
    assert target.test_deps == (testkit,)


def test_a_virtual_workspace_root_is_no_member() -> None:
    root = b'[tool.uv.workspace]\nmembers = ["libs/**"]\n'
    files = {
        "pyproject.toml": root,
        "libs/core/pyproject.toml": CORE,
        "libs/nested/util/pyproject.toml": UTIL,
    }
    assert list(deps_by_folder(files)) == ["libs/core", "libs/nested/util"]


def test_exclude_drops_the_folder_and_everything_under_it() -> None:
    root = b'[tool.uv.workspace]\nmembers = ["libs/**"]\nexclude = ["libs/legacy"]\n'
    files = {
        "pyproject.toml": root,
        "libs/core/pyproject.toml": CORE,
        "libs/legacy/pyproject.toml": b'[project]\nname = "legacy"\n',
        "libs/legacy/v1/pyproject.toml": b'[project]\nname = "legacy-v1"\n',
    }
    assert list(deps_by_folder(files)) == ["libs/core"]


def test_without_a_uv_workspace_every_project_is_a_package() -> None:
    files = {
        "pyproject.toml": b"[tool.black]\nline-length = 100\n",
        "service/pyproject.toml": b'[project]\nname = "Service"\ndependencies = ["Shared_Lib"]\n',
        "shared/pyproject.toml": b'[project]\nname = "shared.lib"\n',
        "client/pyproject.toml": (
            b'[project]\nname = "client"\n\n[tool.uv.sources]\nlocal = { path = "../shared" }\n'
        ),
    }
    assert deps_by_folder(files) == {
        "client": ["//shared:shared"],
        "service": ["//shared:shared"],
        "shared": [],
    }


def test_requires_python_and_the_document_are_the_definition() -> None:
    before = read_packages(REPO)
    comment = CORE.replace(b"[build-system]", b"# build with hatch\n[build-system]")
    assert read_packages({**REPO, "packages/core/pyproject.toml": comment}) == before
    bumped = CORE.replace(b'"attrs>=23.2"', b'"attrs>=24.1"')
    assert read_packages({**REPO, "packages/core/pyproject.toml": bumped}) != before
    core = before[1].targets[0]
    assert dict(core.attrs)["requires-python"] == '">=3.11"'


def test_invalid_toml_names_file_and_line() -> None:
    broken = API.replace(b'cli = ["ACME_util"', b'cli = ["ACME_util",,')
    assert error_of({**REPO, "services/api/pyproject.toml": broken}) == (
        "services/api/pyproject.toml:12: invalid TOML: Invalid value"
    )


def test_a_bad_requirement_names_file_and_line() -> None:
    broken = API.replace(b'"fastapi>=0.110"', b'"fastapi >= = 0.110"')
    assert error_of({**REPO, "services/api/pyproject.toml": broken}) == (
        "services/api/pyproject.toml:7: invalid requirement 'fastapi >= = 0.110' in "
        "`dependencies`: Expected semicolon (after name with no version specifier) or end"
    )


def test_two_projects_with_one_normalised_name_name_both_files() -> None:
    files = {**REPO, "packages/util/pyproject.toml": UTIL.replace(b"acme_util", b"Acme.Core")}
    assert error_of(files) == (
        "packages/util/pyproject.toml:1: two Python projects named 'acme-core': "
        "packages/core/pyproject.toml and packages/util/pyproject.toml "
        "(names must be unique within a workspace)"
    )


def test_a_member_without_a_project_table_is_an_error() -> None:
    files = {**REPO, "packages/docs/pyproject.toml": b"[tool.ruff]\nline-length = 100\n"}
    assert error_of(files) == (
        "packages/docs/pyproject.toml:1: workspace member 'packages/docs' has no [project] table "
        "(add one, or exclude it in pyproject.toml)"
    )


def test_a_literal_member_without_pyproject_is_an_error() -> None:
    root = ROOT.replace(b'"services/*"]', b'"services/*", "tools/cli"]')
    assert error_of({**REPO, "pyproject.toml": root}) == (
        "pyproject.toml:9: workspace member 'tools/cli' has no pyproject.toml"
    )


def test_an_unknown_include_group_is_an_error() -> None:
    broken = API.replace(b'{ include-group = "test" }', b'{ include-group = "tests" }')
    assert error_of({**REPO, "services/api/pyproject.toml": broken}) == (
        "services/api/pyproject.toml:16: dependency group 'dev' includes unknown group 'tests'"
    )


def test_a_workspace_source_that_names_no_member_is_an_error() -> None:
    broken = WORKER.replace(b"acme-util = {", b"acme-utils = {")
    assert error_of({**REPO, "services/worker/pyproject.toml": broken}) == (
        "services/worker/pyproject.toml:10: source 'acme-utils' says `workspace = true` "
        "but names no workspace member"
    )


def test_wrongly_typed_fields_point_at_their_lines() -> None:
    broken = UTIL.replace(b"dependencies = []", b'dependencies = "acme-core"')
    assert error_of({**REPO, "packages/util/pyproject.toml": broken}) == (
        "packages/util/pyproject.toml:4: `dependencies` must be a list of requirement strings"
    )
    unnamed = b'[project]\nversion = "1.0"\n'
    assert error_of({**REPO, "packages/util/pyproject.toml": unnamed}) == (
        "packages/util/pyproject.toml:1: [project] needs a valid `name`, found None"
    )
    bad_name = b'[project]\nname = "acme util"\n'
    assert error_of({**REPO, "packages/util/pyproject.toml": bad_name}) == (
        "packages/util/pyproject.toml:2: [project] needs a valid `name`, found 'acme util'"
    )
    members = ROOT.replace(b'members = ["packages/*", "services/*"]', b'members = "packages/*"')
    assert error_of({**REPO, "pyproject.toml": members}) == (
        "pyproject.toml:9: `members` must be a list of globs"
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


def test_without_a_uv_workspace_unreadable_projects_are_warnings() -> None:
    # astral-sh/ruff: pyproject.toml fixtures with invalid TOML, invalid names and
    # names used twice, beside real projects.
    fixtures = "crates/ruff/resources/test/fixtures"
    files = {
        "python/ruff-ecosystem/pyproject.toml": b'[project]\nname = "ruff-ecosystem"\n',
        f"{fixtures}/a/pyproject.toml": b"[project\n",
        f"{fixtures}/b/pyproject.toml": b'[project]\nname = "not valid!"\n',
        f"{fixtures}/c/pyproject.toml": b'[project]\nname = "ruff-ecosystem"\n',
    }
    found = read_workspace(files)
    assert [p.path for p in found.packages] == ["python/ruff-ecosystem"]
    assert [str(w).split(":")[0] for w in found.warnings] == [
        "crates/ruff/resources/test/fixtures/a/pyproject.toml",
        "crates/ruff/resources/test/fixtures/b/pyproject.toml",
        "crates/ruff/resources/test/fixtures/c/pyproject.toml",
    ]
    assert all(str(w).endswith("; not a workspace member") for w in found.warnings)


def test_uv_member_globs_that_leave_the_repository_are_errors() -> None:
    files = {
        "pyproject.toml": b'[tool.uv.workspace]\nmembers = ["../*"]\n',
        "p/a/pyproject.toml": b'[project]\nname = "a"\n',
    }
    assert error_of(files).startswith(
        "pyproject.toml:2: members pattern '../*': it leaves its folder with '..'"
    )


def test_a_uv_workspace_never_reads_the_projects_it_does_not_declare() -> None:
    files = {
        "pyproject.toml": b'[tool.uv.workspace]\nmembers = ["packages/*"]\n',
        "packages/a/pyproject.toml": b'[project]\nname = "a"\n',
        "tests/fixtures/bad/pyproject.toml": b"[project\n",
    }
    found = read_workspace(files)
    assert [p.path for p in found.packages] == ["packages/a"]
    assert found.warnings == ()


def test_uv_lock_adds_the_member_edges_it_records_and_a_broken_one_adds_none() -> None:
    # pydantic-ai: a member with dynamic dependencies declares none; uv.lock has them.
    lock = (
        b'version = 1\n\n[[package]]\nname = "acme-util"\nsource = { editable = "packages/util" }\n'
        b'dependencies = [{ name = "acme-core" }]\n\n'
        b'[package.optional-dependencies]\nextra = [{ name = "acme-testing" }]\n'
    )
    found = deps_by_folder({**REPO, "uv.lock": lock})
    assert found["packages/util"] == ["//packages/core:core", "//packages/testing:testing"]
    assert deps_by_folder({**REPO, "uv.lock": b"version = [\n"}) == deps_by_folder(REPO)


def test_a_member_of_a_nested_uv_workspace_must_be_valid() -> None:
    files = {
        "py/pyproject.toml": b'[tool.uv.workspace]\nmembers = ["libs/*"]\n',
        "py/libs/a/pyproject.toml": b'[project]\nname = "a"\n',
        "docs/fixtures/bad/pyproject.toml": b"[project\n",
    }
    found = read_workspace(files)
    assert [p.path for p in found.packages] == ["py/libs/a"]
    assert [w.path for w in found.warnings] == ["docs/fixtures/bad/pyproject.toml"]
    broken = {**files, "py/libs/a/pyproject.toml": b'[project]\nname = "not valid!"\n'}
    assert error_of(broken).startswith("py/libs/a/pyproject.toml:2: [project] needs a valid `name`")


def _fixture_workspace(folder: str) -> dict[str, bytes]:
    return {
        f"{folder}/pyproject.toml": b'[project]\nname = "albatross"\n\n'
        b'[tool.uv.workspace]\nmembers = ["packages/*"]\n',
        f"{folder}/packages/seeds/pyproject.toml": b'[project]\nname = "seeds"\n',
        f"{folder}/packages/bird-feeder/pyproject.toml": b'[project]\nname = "bird-feeder"\n'
        b'dependencies = ["seeds"]\n\n[tool.uv.sources]\nseeds = { workspace = true }\n',
    }


def test_separate_nested_uv_workspaces_may_reuse_a_member_name() -> None:
    """uv: test/workspaces/ holds seven fixture workspaces, several with a member named
    `seeds`. Each name is unique within its own workspace, which is all uv asks; they
    stopped every run on the repository with exit 2. A dep on such a name counts on
    each member that has it: which one is meant is not known, and all is the safe side."""
    files = {
        "pyproject.toml": b'[project]\nname = "uv"\n',
        **_fixture_workspace("test/workspaces/one"),
        **_fixture_workspace("test/workspaces/two"),
    }
    both = ["test/workspaces/one/packages/seeds", "test/workspaces/two/packages/seeds"]
    deps = deps_by_folder(files)
    for root in ("test/workspaces/one", "test/workspaces/two"):
        assert deps[f"{root}/packages/bird-feeder"] == [f"//{f}:seeds" for f in both]
        assert deps[f"{root}/packages/seeds"] == []
    clash = {
        **files,
        "test/workspaces/one/packages/more/pyproject.toml": b'[project]\nname = "seeds"\n',
    }
    assert error_of(clash) == (
        "test/workspaces/one/packages/seeds/pyproject.toml:1: two Python projects named 'seeds': "
        "test/workspaces/one/packages/more/pyproject.toml and "
        "test/workspaces/one/packages/seeds/pyproject.toml"
        " (names must be unique within a workspace)"
    )
