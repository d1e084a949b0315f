"""Repositories as they are: ecosystem manifests become targets, end to end through git."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from click.testing import Result
from gitrepo import GitRepo

Cli = Callable[..., Result]

FILES = {
    "package.json": json.dumps(
        {"name": "acme", "private": True, "workspaces": ["packages/*"]}, indent=2
    ),
    "packages/ui/package.json": json.dumps(
        {"name": "@acme/ui", "version": "1.0.0", "scripts": {"test": "node test.js"}}
    ),
    "packages/ui/index.js": "module.exports = 1;\n",
    "packages/app/package.json": json.dumps(
        {"name": "@acme/app", "version": "1.0.0", "dependencies": {"@acme/ui": "*"}}
    ),
    "packages/app/index.js": "require('@acme/ui');\n",
    "pyproject.toml": '[tool.uv.workspace]\nmembers = ["py/*"]\n',
    "py/core/pyproject.toml": '[project]\nname = "Acme.Core"\nversion = "1"\n',
    "py/core/src/acme_core/__init__.py": "",
    "py/api/pyproject.toml": '[project]\nname = "acme-api"\nversion = "1"\n'
    'dependencies = ["acme_core>=1"]\n',
    "py/api/src/acme_api/__init__.py": "",
    "py/tool/BUILD.toml": '[[target]]\nname = "tool"\nrule = "filegroup"\n',
    "py/tool/pyproject.toml": '[project]\nname = "acme-tool"\nversion = "1"\n',
}


def affected(cli: Cli, repo: GitRepo) -> dict[str, Any]:
    result = cli(repo.root, "affected", "--base", "HEAD", "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def test_npm_member_edit_affects_its_workspace_dependents(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo]
) -> None:
    repo = make_repo(FILES)
    repo.append("packages/ui/index.js", "// more\n")
    assert affected(cli, repo)["affected"] == ["//packages/app:app", "//packages/ui:ui"]


def test_uv_members_link_by_normalized_name(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo]
) -> None:
    repo = make_repo(FILES)
    repo.write("py/core/src/acme_core/extra.py", "X = 1\n")
    assert affected(cli, repo)["affected"] == ["//py/api:api", "//py/core:core"]


def test_manifest_version_bump_redefines_the_package(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo]
) -> None:
    repo = make_repo(FILES)
    repo.write(
        "packages/ui/package.json", FILES["packages/ui/package.json"].replace("1.0.0", "1.1.0")
    )
    data = affected(cli, repo)
    assert data["affected"] == ["//packages/app:app", "//packages/ui:ui"]


def test_build_toml_wins_in_its_folder(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo]
) -> None:
    repo = make_repo(FILES)
    result = cli(repo.root, "query", "owners", "py/tool/pyproject.toml", "--format", "json")
    assert json.loads(result.output)["owners"] == {"py/tool/pyproject.toml": ["//py/tool:tool"]}


def test_ecosystem_names_are_accepted_as_labels(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo]
) -> None:
    repo = make_repo(FILES)
    rdeps = cli(repo.root, "query", "rdeps", "@acme/ui", "--format", "json")
    assert json.loads(rdeps.output)["rdeps"] == ["//packages/app:app"]
    deps = cli(repo.root, "query", "deps", "acme-api", "--format", "json")
    assert json.loads(deps.output)["deps"] == ["//py/core:core"]


def test_malformed_package_json_is_one_line_exit_2(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo]
) -> None:
    repo = make_repo(FILES)
    repo.write("packages/ui/package.json", '{\n  "name": "@acme/ui",\n  "version": 1.0.0\n}\n')
    result = cli(repo.root, "affected", "--base", "HEAD")
    assert result.exit_code == 2
    assert result.output.startswith("graphkit: error: packages/ui/package.json:3:")


def test_manifest_names_match_what_the_readers_read() -> None:
    from graphkit.readers.manifests import cargo, ecosystems, go, npm, python

    declared = {name for reader in (npm, cargo, go, python) for name in reader.MANIFESTS}
    assert declared == ecosystems.MANIFEST_NAMES
