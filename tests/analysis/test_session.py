"""One analysis session: its memo under .git/graphkit/ is a cache, and a damaged one is a miss."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from gitrepo import GitRepo

from graphkit.analysis.session import Session


def _answer(root: Path) -> tuple[list[str], list[str]]:
    """The affected labels of a one-file edit, and the graph's targets at HEAD."""
    with Session.open(root) as session:
        comparison = session.compare("HEAD", None)
        targets = sorted(str(label) for label in session.load("HEAD").graph.targets)
    return sorted(str(label) for label in comparison.affected.targets), targets


def _garbage_everywhere(memo: Path) -> None:
    for path in memo.rglob("*"):
        if path.is_file():
            path.write_bytes(b"not a database, not a pickle\n" * 8)


def _database_is_a_folder(memo: Path) -> None:
    (memo / "cache.db").unlink()
    (memo / "cache.db").mkdir()


def _memo_is_a_file(memo: Path) -> None:
    shutil.rmtree(memo)
    memo.write_bytes(b"x")


def _truncated_values(memo: Path) -> None:
    for path in memo.rglob("*.val"):
        path.write_bytes(path.read_bytes()[:10])


@pytest.mark.parametrize(
    "damage",
    [_garbage_everywhere, _database_is_a_folder, _memo_is_a_file, _truncated_values],
    ids=["garbage", "database is a folder", "memo is a file", "truncated entries"],
)
def test_damaged_memo_is_a_miss(monorepo: GitRepo, damage: Callable[[Path], None]) -> None:
    monorepo.append("libs/core/src/core/models.py", "\nEXTRA = 1\n")
    expected = _answer(monorepo.root)  # a cold run, which fills the memo
    memo = monorepo.root / ".git" / "graphkit" / "graphs"
    assert (memo / "cache.db").is_file()
    damage(memo)
    assert _answer(monorepo.root) == expected
    assert _answer(monorepo.root) == expected  # and the memo written afresh serves again
