"""The health of a cache directory as a whole: its index, and files no entry owns.

Two kinds of damage live outside any one entry. The SQLite index (``cache.db``) can be
truncated, overwritten or replaced by something else; opening it then fails, or
queries fail one by one later, so it is checked once when the directory is opened.
And a value file renamed into place by a process killed before the index row that
owns it committed is invisible, but takes disk space that ``max_size`` does not see;
such orphans are swept when the directory is opened.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import diskcache

from graphkit.errors import InputError

INDEX_FILE = "cache.db"
# A value file is renamed into place a moment before its row commits. One without a
# row is an orphan only when this old, so a sweep beside a live writer spares it.
ORPHAN_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class Swept:
    """Files no index row owns: how many, and their bytes."""

    files: int = 0
    bytes: int = 0


def damaged_index(directory: Path, detail: str) -> InputError:
    """The one-line error for an index that cannot be used."""
    return InputError(
        f"the cache index is damaged ({detail})",
        path=str(directory / INDEX_FILE),
        hint=f"run `graphkit cache verify --dir {directory} --repair` to rebuild it",
    )


def index_problem(cache: diskcache.Cache) -> str | None:
    """What SQLite's quick_check finds wrong with an open index, or None.

    quick_check reads every page of the index once (not the value files): about a
    second per few hundred MB of index, paid once at start.
    """
    try:
        rows = cache._sql("PRAGMA quick_check(1)").fetchall()
    except sqlite3.Error as exc:
        return str(exc)
    answer = rows[0][0] if rows else "no answer"
    return None if answer == "ok" else str(answer)


def value_files(directory: Path) -> list[Path]:
    """Every value file in the cache's two-level folders (``ab/cd/<hex>.val``)."""
    return [
        path for path in directory.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*.val") if path.is_file()
    ]


def orphans(cache: diskcache.Cache, directory: Path, *, grace: float) -> list[Path]:
    """Value files no index row names, last written at least ``grace`` seconds ago."""
    owned = {
        os.path.normpath(name)
        for (name,) in cache._sql("SELECT filename FROM Cache WHERE filename IS NOT NULL")
    }
    cutoff = time.time() - grace
    found: list[Path] = []
    for path in value_files(directory):
        if os.path.normpath(str(path.relative_to(directory))) in owned:
            continue
        with contextlib.suppress(OSError):
            if path.stat().st_mtime <= cutoff:
                found.append(path)
    return found


def remove(paths: list[Path]) -> Swept:
    """Delete ``paths``; count what was deleted."""
    files = size = 0
    for path in paths:
        with contextlib.suppress(OSError):
            length = path.stat().st_size
            path.unlink()
            files += 1
            size += length
    return Swept(files, size)


def sweep_orphans(cache: diskcache.Cache, directory: Path, *, grace: float) -> Swept:
    """Delete the value files no index row owns (see ``orphans``)."""
    return remove(orphans(cache, directory, grace=grace))
