"""Scenario tests: one edit to testdata/monorepo, the whole affected answer asserted.

Each test commits the fixture, makes one edit, and runs the real CLI on the real
repository. Lists are compared whole and sorted, so an extra target fails as
loudly as a missing one.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pygit2
import pytest
from click.testing import Result
from gitrepo import GitRepo

Cli = Callable[..., Result]

UTIL_DEPENDENTS = [
    "//libs/api:api",
    "//libs/api:test",
    "//libs/core:core",
    "//libs/core:test",
    "//libs/util:test",
    "//libs/util:util",
    "//services/gateway:gateway",
    "//services/gateway:test",
    "//services/web:test",
    "//services/web:web",
    "//services/worker:test",
    "//services/worker:worker",
    "//tools/release:release",
    "//tools/release:test",
]
CORE_DEPENDENTS = [
    "//libs/api:api",
    "//libs/api:test",
    "//libs/core:core",
    "//libs/core:test",
    "//services/gateway:gateway",
    "//services/gateway:test",
    "//services/web:test",
    "//services/web:web",
    "//services/worker:test",
    "//services/worker:worker",
]
ECOSYSTEM_TARGETS = [
    "//go/cli:cli",
    "//go/mathx:mathx",
    "//js/app:app",
    "//js/ui:ui",
    "//py/models:models",
    "//py/service:service",
    "//rust/geometry:geometry",
    "//rust/render:render",
]
ALL_TARGETS = sorted(
    [
        *UTIL_DEPENDENTS,
        *ECOSYSTEM_TARGETS,
        "//libs/proto:gen_py",
        "//libs/proto:schema",
        "//tools/lint:lint",
    ]
)


def affected(cli: Cli, repo: GitRepo, *args: str) -> dict[str, Any]:
    result = cli(repo.root, "affected", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def committed(cli: Cli, repo: GitRepo) -> dict[str, Any]:
    """Commit the edit and compare HEAD~1 with HEAD."""
    repo.commit("edit")
    return affected(cli, repo, "--base", "HEAD~1", "--head", "HEAD")


def test_clean_worktree_affects_nothing(cli: Cli, monorepo: GitRepo) -> None:
    data = affected(cli, monorepo, "--base", "HEAD")
    assert data["changed"] == []
    assert data["affected"] == []
    assert data["head"] == "WORKTREE"
    assert data["base"] == str(monorepo.repo.head.target)


def test_edit_leaf_module_affects_its_dependents(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.append("services/web/src/web/app.py", "\nLEAF = 1\n")
    data = committed(cli, monorepo)
    assert data["affected"] == [
        "//services/gateway:gateway",
        "//services/gateway:test",
        "//services/web:test",
        "//services/web:web",
    ]
    assert data["reasons"]["//services/web:web"] == "services/web/src/web/app.py modified"
    assert data["reasons"]["//services/gateway:test"] == (
        "depends on //services/gateway:gateway (interface: services/web/src/web/app.py modified)"
    )
    assert data["changed"] == [{"path": "services/web/src/web/app.py", "status": "modified"}]


def test_edit_base_library_affects_transitive_dependents(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.append("libs/util/src/util/strings.py", "\n# tweak\n")
    assert committed(cli, monorepo)["affected"] == UTIL_DEPENDENTS


def test_test_only_edit_affects_only_the_test(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.append("libs/core/tests/test_core_models.py", "\n# more\n")
    assert committed(cli, monorepo)["affected"] == ["//libs/core:test"]


def test_rename_inside_package(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.move("libs/core/src/core/models.py", "libs/core/src/core/model.py")
    data = committed(cli, monorepo)
    assert data["affected"] == CORE_DEPENDENTS
    assert data["changed"] == [
        {
            "path": "libs/core/src/core/model.py",
            "status": "renamed",
            "old_path": "libs/core/src/core/models.py",
        }
    ]


def test_move_across_packages_affects_both(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.move("libs/util/src/util/durations.py", "libs/core/src/core/durations.py")
    assert committed(cli, monorepo)["affected"] == UTIL_DEPENDENTS


def test_delete_file(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.delete("tools/lint/lint.sh")
    data = committed(cli, monorepo)
    assert data["affected"] == ["//tools/lint:lint"]
    assert data["changed"] == [{"path": "tools/lint/lint.sh", "status": "deleted"}]


def test_chmod_x_changes_the_key(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.chmod_x("services/gateway/routes.conf")
    data = committed(cli, monorepo)
    assert data["affected"] == ["//services/gateway:gateway", "//services/gateway:test"]
    assert data["changed"] == [{"path": "services/gateway/routes.conf", "status": "modified"}]


def test_manifest_comment_only_edit_affects_nothing(cli: Cli, monorepo: GitRepo) -> None:
    text = monorepo.read("libs/core/BUILD.toml")
    monorepo.write("libs/core/BUILD.toml", "# a new comment\n" + text.replace("\n\n", "\n\n\n"))
    data = committed(cli, monorepo)
    assert data["changed"] == [{"path": "libs/core/BUILD.toml", "status": "modified"}]
    assert data["affected"] == []
    assert data["unowned"] == []


def test_dependency_added_affects_the_target_and_dependents(cli: Cli, monorepo: GitRepo) -> None:
    text = monorepo.read("tools/release/BUILD.toml")
    monorepo.write(
        "tools/release/BUILD.toml",
        text.replace('deps = ["//libs/util:util"]', 'deps = ["//libs/util:util", "//libs/core"]'),
    )
    data = committed(cli, monorepo)
    assert data["affected"] == ["//tools/release:release", "//tools/release:test"]
    assert data["reasons"]["//tools/release:release"] == (
        "definition changed in tools/release/BUILD.toml"
    )


@pytest.mark.parametrize("head", ["commit", "worktree"])
def test_a_redefined_package_compares_only_the_changed_files_of_its_targets(
    cli: Cli, monorepo: GitRepo, head: str
) -> None:
    # A dep added to one target makes the package dirty, but every file still sorts
    # into the same target: the changed files alone decide which inputs differ.
    text = monorepo.read("tools/release/BUILD.toml")
    monorepo.write(
        "tools/release/BUILD.toml",
        text.replace('deps = ["//libs/util:util"]', 'deps = ["//libs/util:util", "//libs/core"]'),
    )
    monorepo.append("tools/release/tests/test_release_version.py", "\n# more\n")
    monorepo.write("tools/release/tests/test_tags.py", "def test_tags():\n    pass\n")
    if head == "commit":
        data = committed(cli, monorepo)
    else:
        data = affected(cli, monorepo, "--base", "HEAD")
    assert data["affected"] == ["//tools/release:release", "//tools/release:test"]
    assert data["reasons"]["//tools/release:release"] == (
        "definition changed in tools/release/BUILD.toml"
    )
    assert data["reasons"]["//tools/release:test"].startswith(
        "tools/release/tests/test_release_version.py changed (layout of package tools/release"
    )


def test_target_removed_is_listed_apart(cli: Cli, monorepo: GitRepo) -> None:
    text = monorepo.read("tools/release/BUILD.toml")
    monorepo.write("tools/release/BUILD.toml", text.split('[[target]]\nname = "test"')[0])
    data = committed(cli, monorepo)
    assert data["removed"] == ["//tools/release:test"]
    # The removed target's files are now matched by no target, so they become inputs
    # of every target left in the package.
    assert data["affected"] == ["//tools/release:release"]


def test_global_input_affects_everything(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.append("tools/ci.toml", "\n# bump\n")
    data = committed(cli, monorepo)
    assert data["affected"] == ALL_TARGETS
    assert set(data["reasons"].values()) == {"global input tools/ci.toml modified"}
    assert data["unowned"] == ["tools/ci.toml"]


def test_file_outside_every_package_is_unowned(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.append("docs/README.md", "\nMore docs.\n")
    data = committed(cli, monorepo)
    assert data["affected"] == []
    assert data["unowned"] == ["docs/README.md"]


def test_file_matched_by_no_target_affects_whole_package(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.write("libs/core/data/config.json", '{"changed": true}\n')
    assert committed(cli, monorepo)["affected"] == CORE_DEPENDENTS


def test_genrule_input_affects_the_genrule(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.append("libs/proto/schema/item.proto", "\n// field\n")
    assert committed(cli, monorepo)["affected"] == ["//libs/proto:gen_py", "//libs/proto:schema"]


def test_new_package_is_affected(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.write("libs/extra/BUILD.toml", '[[target]]\nname = "extra"\nrule = "filegroup"\n')
    monorepo.write("libs/extra/data.txt", "x\n")
    data = committed(cli, monorepo)
    assert data["affected"] == ["//libs/extra:extra"]
    assert data["reasons"]["//libs/extra:extra"] == "new target in libs/extra/BUILD.toml"


def test_nested_package_takes_files_from_its_parent(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.write("libs/core/data/BUILD.toml", '[[target]]\nname = "data"\nrule = "filegroup"\n')
    data = committed(cli, monorepo)
    assert data["affected"] == sorted([*CORE_DEPENDENTS, "//libs/core/data:data"])
    assert data["reasons"]["//libs/core:core"].startswith(
        "libs/core/data/config.json no longer an input"
    )


def test_unstaged_edit_and_untracked_file_in_worktree(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.append("services/worker/src/worker/jobs.py", "\n# wip\n")
    monorepo.write("tools/release/src/release/notes.py", "NOTES = []\n")
    data = affected(cli, monorepo, "--base", "HEAD")
    assert data["affected"] == [
        "//services/worker:test",
        "//services/worker:worker",
        "//tools/release:release",
        "//tools/release:test",
    ]
    assert data["changed"] == [
        {"path": "services/worker/src/worker/jobs.py", "status": "modified"},
        {"path": "tools/release/src/release/notes.py", "status": "added"},
    ]


def test_staged_edit_is_seen(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.append("tools/lint/lint.sh", "\n# staged\n")
    monorepo.stage("tools/lint/lint.sh")
    assert affected(cli, monorepo, "--base", "HEAD")["affected"] == ["//tools/lint:lint"]


def test_gitignored_file_is_not_a_change(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.write("libs/proto/gen/schema.py", "GENERATED = 1\n")
    data = affected(cli, monorepo, "--base", "HEAD")
    assert data["changed"] == []


def test_default_base_is_merge_base_with_main(cli: Cli, monorepo: GitRepo) -> None:
    base = monorepo.repo.head.target
    monorepo.repo.branches.local.create("feature", monorepo.repo[base])
    monorepo.repo.checkout("refs/heads/feature")
    monorepo.append("tools/lint/lint.sh", "\n# on a branch\n")
    monorepo.commit("feature work")
    data = affected(cli, monorepo)
    assert data["base"] == str(base)
    assert data["affected"] == ["//tools/lint:lint"]


def test_rule_filter(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.append("libs/util/src/util/strings.py", "\n# tweak\n")
    monorepo.commit()
    data = affected(cli, monorepo, "--base", "HEAD~1", "--head", "HEAD", "--rule", "python_test")
    assert data["affected"] == [
        "//libs/api:test",
        "//libs/core:test",
        "//libs/util:test",
        "//services/web:test",
        "//services/worker:test",
        "//tools/release:test",
    ]
    bad = cli(monorepo.root, "affected", "--rule", "python_tset")
    assert bad.exit_code == 2
    assert "did you mean 'python_test'" in bad.output


def _shallow_clone(monorepo: GitRepo, tmp_path: Path) -> Path:
    clone = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{monorepo.root}", str(clone)],
        check=True,
        capture_output=True,
    )
    return clone


def test_missing_base_commit_is_an_error_naming_the_fix(
    cli: Cli, monorepo: GitRepo, tmp_path: Path
) -> None:
    first = monorepo.commit("empty change")
    monorepo.append("tools/lint/lint.sh", "\n# later\n")
    monorepo.commit("later")
    clone = _shallow_clone(monorepo, tmp_path)
    result = cli(clone, "affected", "--base", first, "--format", "json")
    assert result.exit_code == 2
    assert "shallow clone" in result.output
    assert "fetch-depth: 0" in result.output
    assert result.output.startswith("graphkit: error: ")
    assert result.output.count("\n") == 1


def test_missing_base_with_on_unknown_all_affects_everything(
    cli: Cli, monorepo: GitRepo, tmp_path: Path
) -> None:
    first = str(monorepo.repo.head.target)
    monorepo.append("tools/lint/lint.sh", "\n# later\n")
    monorepo.commit("later")
    clone = _shallow_clone(monorepo, tmp_path)
    result = cli(clone, "affected", "--base", first, "--on-unknown", "all", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["affected"] == ALL_TARGETS
    assert all("shallow clone" in reason for reason in data["reasons"].values())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ('[[target]]\nname = "x"\nrule = "python_libary"\n', "did you mean 'python_library'"),
        ('[[target]]\nname = "x"\nrule = "filegroup"\nsrc = ["*"]\n', "unknown field 'src'"),
        ('[[target]]\nname = "x"\nrule = "filegroup"\ndeps = ["//libs/cor"]\n', "did you mean"),
        ("[[target]\n", "invalid TOML"),
    ],
)
def test_broken_manifest_at_head_is_one_line_exit_2(
    cli: Cli, monorepo: GitRepo, edit: str, message: str
) -> None:
    monorepo.write("libs/broken/BUILD.toml", edit)
    result = cli(monorepo.root, "affected", "--base", "HEAD")
    assert result.exit_code == 2
    assert result.output.startswith("graphkit: error: libs/broken/BUILD.toml:")
    assert message in result.output
    assert result.output.count("\n") == 1


def test_broken_manifest_at_base_is_unknown(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.write("libs/broken/BUILD.toml", "[[target]\n")
    monorepo.commit("broken")
    monorepo.delete("libs/broken/BUILD.toml")
    monorepo.commit("fixed")
    result = cli(monorepo.root, "affected", "--base", "HEAD~1", "--head", "HEAD")
    assert result.exit_code == 2
    assert "cannot read base" in result.output and "--on-unknown=all" in result.output
    data = affected(cli, monorepo, "--base", "HEAD~1", "--head", "HEAD", "--on-unknown", "all")
    assert data["affected"] == ALL_TARGETS


def _set_gitlink(repo: GitRepo, path: str, commit_hex: str) -> None:
    index = repo.repo.index
    index.read()
    index.add(pygit2.IndexEntry(path, pygit2.Oid(hex=commit_hex), pygit2.enums.FileMode.COMMIT))
    index.write()
    tree = index.write_tree()
    head = repo.repo.head.target
    signature = pygit2.Signature("t", "t@graphkit.invalid", 1_700_000_000, 0)
    repo.repo.create_commit("HEAD", signature, signature, "submodule", tree, [head])


def test_submodule_pointer_change_affects_its_owner(cli: Cli, monorepo: GitRepo) -> None:
    _set_gitlink(monorepo, "libs/proto/vendor/googleapis", "1" * 40)
    _set_gitlink(monorepo, "libs/proto/vendor/googleapis", "2" * 40)
    data = affected(cli, monorepo, "--base", "HEAD~1", "--head", "HEAD")
    assert data["changed"] == [{"path": "libs/proto/vendor/googleapis", "status": "modified"}]
    # vendor/ is matched by neither target's srcs, so it is an input of both.
    assert data["affected"] == ["//libs/proto:gen_py", "//libs/proto:schema"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("js/ui/src/index.js", ["//js/app:app", "//js/ui:ui"]),
        ("py/models/src/acme_models/__init__.py", ["//py/models:models", "//py/service:service"]),
        ("rust/geometry/src/lib.rs", ["//rust/geometry:geometry", "//rust/render:render"]),
        ("go/mathx/mathx.go", ["//go/cli:cli", "//go/mathx:mathx"]),
    ],
)
def test_ecosystem_member_edit_affects_its_dependents(
    cli: Cli, monorepo: GitRepo, path: str, expected: list[str]
) -> None:
    monorepo.append(path, "\n// edited\n" if not path.endswith(".py") else "\n# edited\n")
    assert committed(cli, monorepo)["affected"] == expected


def test_workspace_root_manifest_change_redefines_its_members(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.write("pyproject.toml", '[tool.uv.workspace]\nmembers = ["py/models"]\n')
    data = committed(cli, monorepo)
    # py/service left the workspace: it is a plain project now, still depending on models.
    assert data["affected"] == []
    assert data["unowned"] == ["pyproject.toml"]


def files_of(cli: Cli, repo: GitRepo) -> dict[str, Any]:
    result = cli(repo.root, "affected", "--files", "--base", "HEAD", "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def test_files_selects_only_tests_whose_imports_reach_the_change(
    cli: Cli, monorepo: GitRepo
) -> None:
    monorepo.append("libs/core/src/core/config.py", "\n# tweak\n")
    data = files_of(cli, monorepo)
    assert data["affected"] == CORE_DEPENDENTS
    assert data["files"] == {
        "//libs/api:test": [],
        "//libs/core:test": ["libs/core/tests/test_core_config.py"],
        "//services/web:test": [],
        "//services/worker:test": [],
    }
    assert data["file_reasons"]["libs/core/tests/test_core_config.py"].startswith(
        "imports changed libs/core/src/core/config.py"
    )


def test_files_runs_every_test_when_a_non_importable_input_changes(
    cli: Cli, monorepo: GitRepo
) -> None:
    monorepo.write("libs/core/data/config.json", '{"changed": true}\n')
    data = files_of(cli, monorepo)
    assert data["files"]["//libs/core:test"] == [
        "libs/core/tests/test_core_config.py",
        "libs/core/tests/test_core_models.py",
    ]
    assert data["files"]["//libs/api:test"] == ["libs/api/tests/test_api_handlers.py"]


def test_files_is_conservative_about_dynamic_imports(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.write(
        "libs/core/tests/test_core_models.py",
        "import importlib\n\nmod = importlib.import_module(__name__.replace('test', 'x'))\n",
    )
    monorepo.commit()
    monorepo.append("libs/core/src/core/config.py", "\n# tweak\n")
    data = files_of(cli, monorepo)
    assert data["files"]["//libs/core:test"] == [
        "libs/core/tests/test_core_config.py",
        "libs/core/tests/test_core_models.py",
    ]
    assert "dynamic import" in data["file_reasons"]["libs/core/tests/test_core_models.py"]


def test_lockfile_bump_affects_only_the_members_that_resolve_it(
    cli: Cli, monorepo: GitRepo
) -> None:
    lock = monorepo.read("js/package-lock.json")
    monorepo.write("js/package-lock.json", lock.replace('"version": "2.1.3"', '"version": "2.1.4"'))
    data = committed(cli, monorepo)
    assert data["affected"] == ["//js/app:app"]
    assert data["reasons"]["//js/app:app"] == "js/package-lock.json: ms 2.1.3 -> 2.1.4"
    assert data["unowned"] == ["js/package-lock.json"]


def test_lockfile_bump_reaches_dependents_of_the_member(cli: Cli, monorepo: GitRepo) -> None:
    lock = monorepo.read("js/package-lock.json")
    monorepo.write("js/package-lock.json", lock.replace('"version": "1.3.0"', '"version": "1.3.1"'))
    assert committed(cli, monorepo)["affected"] == ["//js/app:app", "//js/ui:ui"]


def test_unparseable_lockfile_affects_every_package_of_its_ecosystem(
    cli: Cli, monorepo: GitRepo
) -> None:
    monorepo.write("js/package-lock.json", '{"lockfileVersion": 3, "packages": ')
    data = committed(cli, monorepo)
    assert data["affected"] == ["//js/app:app", "//js/ui:ui"]
    assert all("could not be compared" in data["reasons"][label] for label in data["affected"])


@pytest.mark.parametrize(
    ("lockfile", "text", "expected"),
    [
        ("js/package-lock.json", '{"packages": ' + "[" * 50_000, ["//js/app:app", "//js/ui:ui"]),
        (
            "uv.lock",
            "version = 1\nx = " + "[" * 50_000,
            ["//py/models:models", "//py/service:service"],
        ),
    ],
)
def test_lockfile_nested_50000_deep_affects_every_package_of_its_ecosystem(
    cli: Cli, monorepo: GitRepo, lockfile: str, text: str, expected: list[str]
) -> None:
    monorepo.write(lockfile, text)
    data = committed(cli, monorepo)
    assert data["affected"] == expected
    assert all("could not be compared" in data["reasons"][label] for label in expected)


def test_explain_lists_the_locked_externals_of_the_key(cli: Cli, monorepo: GitRepo) -> None:
    data = json.loads(cli(monorepo.root, "explain", "//js/app", "--format", "json").output)
    assert any(entry.startswith("js/package-lock.json: ms 2.1.3 ") for entry in data["externals"])
    text = cli(monorepo.root, "explain", "//js/app").output
    assert "locked externals (" in text and "ms 2.1.3" in text


# --- symlinks ------------------------------------------------------------------------

SHARED = "docs/protos/common.proto"
LINK = "libs/proto/schema/common.proto"


def linked(repo: GitRepo, link: str, target: str) -> None:
    """Commit a symlink at ``link`` whose target text is ``target``."""
    (repo.root / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, repo.root / link)
    repo.commit("symlink")


def test_editing_a_symlinks_target_affects_the_symlinks_owner(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.write(SHARED, 'syntax = "proto3";\n')
    linked(monorepo, LINK, "../../../" + SHARED)
    monorepo.append("libs/proto/schema/item.proto", "// edited\n")
    direct = affected(cli, monorepo, "--base", "HEAD")["affected"]
    monorepo.repo.reset(monorepo.repo.head.target, pygit2.enums.ResetMode.HARD)
    monorepo.append(SHARED, "// edited\n")
    data = affected(cli, monorepo, "--base", "HEAD")
    assert "//libs/proto:schema" in direct
    assert data["affected"] == direct  # as if the linked file were edited in place
    reason = f"{SHARED} modified (through symlink {LINK})"
    assert data["reasons"]["//libs/proto:schema"] == reason
    assert data["unowned"] == [SHARED]


def test_committing_an_edit_to_a_symlinks_target_affects_the_symlinks_owner(
    cli: Cli, monorepo: GitRepo
) -> None:
    monorepo.write(SHARED, 'syntax = "proto3";\n')
    linked(monorepo, LINK, "../../../" + SHARED)
    monorepo.append(SHARED, "// edited\n")
    data = committed(cli, monorepo)
    assert "//libs/proto:schema" in data["affected"]
    reason = f"{SHARED} modified (through symlink {LINK})"
    assert data["reasons"]["//libs/proto:schema"] == reason


def test_a_file_added_in_a_linked_folder_affects_the_symlinks_owner(
    cli: Cli, monorepo: GitRepo
) -> None:
    monorepo.write(SHARED, 'syntax = "proto3";\n')
    linked(monorepo, "libs/proto/vendor", "../../docs/protos")
    monorepo.write("docs/protos/extra.proto", 'syntax = "proto3";\n')
    data = committed(cli, monorepo)
    # vendor is matched by no srcs glob: an input of every target of the package.
    assert {"//libs/proto:gen_py", "//libs/proto:schema"} <= set(data["affected"])
    reason = "docs/protos/extra.proto added (through symlink libs/proto/vendor)"
    assert data["reasons"]["//libs/proto:schema"] == reason


def test_a_symlink_out_of_the_repository_is_its_own_blob(cli: Cli, monorepo: GitRepo) -> None:
    linked(monorepo, LINK, "../../../../outside.proto")
    monorepo.write("docs/outside.proto", "// not what the link names\n")
    assert committed(cli, monorepo)["affected"] == []
    os.remove(monorepo.root / LINK)
    os.symlink("/etc/hosts", monorepo.root / LINK)
    assert "//libs/proto:schema" in committed(cli, monorepo)["affected"]


def test_explain_lists_what_a_symlink_reaches(cli: Cli, monorepo: GitRepo) -> None:
    monorepo.write(SHARED, 'syntax = "proto3";\n')
    linked(monorepo, LINK, "../../../" + SHARED)
    data = json.loads(
        cli(monorepo.root, "explain", "//libs/proto:schema", "--format", "json").output
    )
    assert [(s["path"], s["target"]) for s in data["symlinks"]] == [(LINK, SHARED)]
    assert [f["path"] for f in data["symlinks"][0]["reached"]] == [SHARED]
    text = cli(monorepo.root, "explain", "//libs/proto:schema").output
    assert f"symlink {LINK} -> {SHARED} (1 file(s)):" in text
    monorepo.append(SHARED, "// edited\n")
    monorepo.commit("edit shared")
    diff = cli(monorepo.root, "explain", "//libs/proto:schema", "--diff", "HEAD~1").output
    assert f"file through symlink {LINK}: {SHARED}" in diff
