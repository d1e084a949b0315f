"""Declared outputs that would land outside the workspace or in .git: input errors, run nothing."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from gitrepo import GitRepo

Cli = Callable[..., Result]


def genrule(out: str) -> dict[str, str]:
    return {
        "gen/BUILD.toml": (
            "# a genrule whose output is declared by the target\n"
            "[[target]]\n"
            'name = "gen"\n'
            'rule = "genrule"\n'
            f'cmd = "mkdir -p $(dirname {out}) && echo made > {out}"\n'
            f'outs = ["{out}"]\n'
        ),
    }


@pytest.mark.parametrize("out", ["../outside.txt", "ABSOLUTE"])
def test_an_output_that_leaves_the_workspace_is_an_input_error(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo], tmp_path: Path, out: str
) -> None:
    out = str(tmp_path / "absolute.txt") if out == "ABSOLUTE" else out
    repo = make_repo(genrule(out))
    result = cli(repo.root, "run", "build", "//gen", "--cache-dir", str(tmp_path / "c"))
    assert result.exit_code == 2, result.output
    assert f"gen/BUILD.toml:2: output {out!r} of task 'build' of //gen:gen" in result.output
    assert not (repo.root.parent / "outside.txt").exists()
    assert not (tmp_path / "absolute.txt").exists()


@pytest.mark.parametrize(("link", "out"), [("escape", "escape/out.txt"), ("hooks", "hooks/x")])
def test_an_output_through_a_symlink_out_of_the_workspace_or_into_git_is_an_input_error(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo], tmp_path: Path, link: str, out: str
) -> None:
    repo = make_repo(genrule(out))
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside if link == "escape" else repo.root / ".git" / "hooks", repo.root / link)
    result = cli(repo.root, "run", "build", "//gen", "--cache-dir", str(tmp_path / "c"))
    assert result.exit_code == 2, result.output
    assert f"gen/BUILD.toml:2: output {out!r} of task 'build' of //gen:gen" in result.output
    assert list(outside.iterdir()) == []
    assert not (repo.root / ".git" / "hooks" / "x").exists()


def test_an_output_under_git_is_an_input_error(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo], tmp_path: Path
) -> None:
    repo = make_repo(genrule(".git/hooks/post-checkout"))
    result = cli(repo.root, "run", "build", "//gen", "--cache-dir", str(tmp_path / "c"))
    assert result.exit_code == 2, result.output
    assert "gen/BUILD.toml:2: output '.git/hooks/post-checkout'" in result.output
    assert not (repo.root / ".git" / "hooks" / "post-checkout").exists()


def test_a_task_that_turns_its_output_folder_into_a_symlink_out_fails_and_stores_nothing(
    cli: Cli, make_repo: Callable[[dict[str, str]], GitRepo], tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = make_repo(
        {
            "gen/BUILD.toml": (
                '[[target]]\nname = "gen"\nrule = "genrule"\n'
                f'cmd = "ln -s {outside} gen/out && echo made > gen/out/file.txt"\n'
                'outs = ["gen/out/file.txt"]\n'
            ),
        }
    )
    cache = ["--cache-dir", str(tmp_path / "c")]
    first = cli(repo.root, "run", "build", "//gen", *cache)
    assert first.exit_code == 1, first.output
    assert "declared output 'gen/out/file.txt' resolves outside the workspace" in first.output
    (repo.root / "gen" / "out").unlink()
    again = cli(repo.root, "run", "build", "//gen", *cache)
    assert "refusing cached result" not in again.output and "[cached]" not in again.output


def test_an_exclamation_output_takes_files_and_folders_out_of_the_set(tmp_path: Path) -> None:
    from graphkit.execution.outputs import OutputSet, collect

    outputs = ["web/.next/**", "!web/.next/cache", "!web/.next/**/*.map"]
    covered = OutputSet.of(outputs)
    assert covered.matches("web/.next/server/page.js")
    assert not covered.matches("web/.next/cache/webpack/x.pack")
    assert not covered.matches("web/.next/server/page.js.map")
    for path in ("web/.next/server/page.js", "web/.next/cache/a", "web/.next/a.js.map"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    assert [path for path, _mode in collect(tmp_path, outputs).files] == [
        "web/.next/server/page.js"
    ]
