"""Real git repositories for tests, made with pygit2 in temp folders."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pygit2

_SIGNATURE = pygit2.Signature("graphkit tests", "tests@graphkit.invalid", 1_700_000_000, 0)


class GitRepo:
    """A worktree plus helpers to edit files and commit, all through pygit2."""

    def __init__(self, root: Path, *, branch: str = "main") -> None:
        self.root = root
        self.repo = pygit2.init_repository(str(root), initial_head=branch)

    @classmethod
    def from_folder(cls, source: Path, root: Path) -> GitRepo:
        """Copy ``source`` into ``root`` and commit it as the first commit."""
        shutil.copytree(source, root)
        repo = cls(root)
        repo.commit("initial")
        return repo

    def write(self, path: str, text: str | bytes, *, executable: bool = False) -> None:
        full = self.root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(text.encode() if isinstance(text, str) else text)
        if executable:
            full.chmod(0o755)

    def write_all(self, files: dict[str, str]) -> None:
        for path, text in files.items():
            self.write(path, text)

    def read(self, path: str) -> str:
        return (self.root / path).read_text()

    def append(self, path: str, text: str) -> None:
        self.write(path, self.read(path) + text)

    def delete(self, path: str) -> None:
        (self.root / path).unlink()

    def move(self, old: str, new: str) -> None:
        (self.root / new).parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.root / old, self.root / new)

    def chmod_x(self, path: str) -> None:
        (self.root / path).chmod(0o755)

    def stage(self, *paths: str) -> None:
        """``git add`` just these paths (deletions included)."""
        index = self.repo.index
        for path in paths:
            if (self.root / path).exists():
                index.add(path)
            else:
                index.remove(path)
        index.write()

    def commit(self, message: str = "change") -> str:
        """Stage everything (like ``git add -A``) and commit; returns the commit id."""
        index = self.repo.index
        index.add_all()
        index.write()
        tree = index.write_tree()
        parents = [] if self.repo.head_is_unborn else [self.repo.head.target]
        oid = self.repo.create_commit("HEAD", _SIGNATURE, _SIGNATURE, message, tree, parents)
        return str(oid)
