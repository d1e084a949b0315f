"""Shared fixtures: real repositories and a CLI runner that runs inside them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from gitrepo import GitRepo

FIXTURE = Path(__file__).resolve().parent.parent / "testdata" / "monorepo"


@pytest.fixture
def monorepo(tmp_path: Path) -> GitRepo:
    """testdata/monorepo copied into a temp folder and committed on ``main``."""
    return GitRepo.from_folder(FIXTURE, tmp_path / "monorepo")


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[[dict[str, str]], GitRepo]:
    """A new repository holding ``files``, committed once."""

    def make(files: dict[str, str]) -> GitRepo:
        repo = GitRepo(tmp_path / "repo")
        repo.write_all(files)
        repo.commit("initial")
        return repo

    return make


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run ``graphkit ARGS`` in a folder through click's runner."""
    from graphkit.cli import main

    def run(cwd: Path, *args: str, **kwargs: Any) -> Result:
        old = Path.cwd()
        os.chdir(cwd)
        try:
            return CliRunner().invoke(main, list(args), catch_exceptions=False, **kwargs)
        finally:
            os.chdir(old)

    return run


@pytest.fixture(autouse=True)
def _no_user_git_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    # Tests must not depend on the machine's ~/.gitconfig.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    yield
