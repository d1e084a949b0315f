"""Declared outputs as files, folders (``{package}/build/``) and globs (``dist/**``).

An output set answers two questions: does a path belong to it (a cached result may
restore nothing else, and a key never reads it back as an input), and what is in it
on disk after a run (files with their modes, symlinks whose targets stay in the
workspace, empty folders). Nothing under ``.git`` is ever part of it.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from graphkit.analysis.graph import matcher
from graphkit.errors import InputError

_GLOB_CHARS = frozenset("*?[")


def is_pattern(output: str) -> bool:
    """A folder (trailing ``/``) or a glob, rather than one file."""
    return output.endswith("/") or bool(_GLOB_CHARS & set(output))


def base_of(output: str) -> str:
    """The folder a folder or glob output lies in: its segments before the first glob."""
    parts = output.rstrip("/").split("/")
    if output.endswith("/"):
        return "/".join(parts)
    fixed = []
    for part in parts:
        if _GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return "/".join(fixed)


def _glob_of(output: str) -> str:
    return output.rstrip("/") + "/**" if output.endswith("/") else output


def _everything(_path: str) -> bool:
    return True


def _pattern_matcher(output: str) -> Callable[[str], bool]:
    """A matcher for a folder or glob output. ``dist/**`` and ``build/`` (the usual
    kinds) match every path below their folder, which ``matches`` already checks:
    no regular expression to compile, for each of thousands of packages."""
    glob = _glob_of(output)
    if glob.endswith("/**") and not _GLOB_CHARS & set(glob[:-3]):
        return _everything
    return matcher((glob,))


@dataclass(frozen=True)
class OutputSet:
    """The paths a task's declared outputs cover."""

    files: frozenset[str]  # declared one by one: each must be written
    # matchers of the folder and glob outputs, by the folder they lie in
    patterns: dict[str, list[Callable[[str], bool]]] = field(default_factory=dict)
    folders: frozenset[str] = frozenset()  # folder outputs (``build/``), themselves kept
    # ``!glob`` outputs (turbo's ``!.next/cache/**``): never part of the set.
    excluded: Callable[[str], bool] | None = None

    @classmethod
    def of(cls, outputs: Iterable[str]) -> OutputSet:
        """The set the expanded ``outputs`` of one task (or of every task) declare."""
        files: set[str] = set()
        folders: set[str] = set()
        patterns: dict[str, list[Callable[[str], bool]]] = {}
        outputs = list(outputs)
        # An exclusion takes out what it names and, a folder, all below it.
        bodies = [o[1:].rstrip("/") for o in outputs if o.startswith("!")]
        exclusions = tuple(g for body in bodies for g in (body, body + "/**"))
        excluded = matcher(exclusions) if exclusions else None
        for output in outputs:
            if output.startswith("!"):
                continue
            if output.endswith("/"):
                folders.add(output.rstrip("/"))
            if is_pattern(output):
                patterns.setdefault(base_of(output), []).append(_pattern_matcher(output))
            else:
                files.add(output)
        return cls(frozenset(files), patterns, frozenset(folders), excluded)

    def matches(self, path: str) -> bool:
        """True when ``path`` (repo-relative) is one of the declared outputs."""
        if self.excluded is not None and self.excluded(path):
            return False
        if path in self.files:
            return True
        if not self.patterns or _under_git(path):
            return False
        if path in self.folders:
            return True
        folder = path
        while True:
            folder = folder.rpartition("/")[0]
            for match in self.patterns.get(folder, ()):
                if match(path):
                    return True
            if not folder:
                return False


@dataclass(frozen=True)
class Found:
    """What a run left in its output set."""

    files: tuple[tuple[str, int], ...]  # (path, permission bits)
    symlinks: tuple[tuple[str, str], ...]  # (path, target as written)
    empty_dirs: tuple[str, ...]


def collect(root: Path, outputs: Iterable[str]) -> Found:
    """The files, symlinks and empty folders the outputs name on disk under ``root``.

    A declared file that is missing, or a symlink whose target leaves the workspace
    or leads into ``.git``, is an InputError (the result is then not stored).
    """
    wanted = OutputSet.of(outputs)
    files: dict[str, int] = {}
    links: dict[str, str] = {}
    empty: set[str] = set()
    for path in sorted(wanted.files):
        full = root / path
        if full.is_symlink():
            links[path] = _link(root, path)
        elif full.is_file():
            files[path] = stat.S_IMODE(full.stat().st_mode)
        else:
            raise InputError(f"declared output {path!r} was not written")
    for base in sorted(wanted.patterns):
        start = root / base if base else root
        if start.is_symlink() or not start.is_dir():
            continue
        for folder, dirs, names in os.walk(start):
            rel_folder = Path(folder).relative_to(root).as_posix()
            rel_folder = "" if rel_folder == "." else rel_folder
            dirs[:] = sorted(d for d in dirs if d.lower() != ".git")
            for name in [*names, *(d for d in dirs if (Path(folder) / d).is_symlink())]:
                path = f"{rel_folder}/{name}" if rel_folder else name
                if not wanted.matches(path):
                    continue
                full = Path(folder) / name
                if full.is_symlink():
                    links[path] = _link(root, path)
                elif full.is_file():
                    files[path] = stat.S_IMODE(full.stat().st_mode)
            dirs[:] = [d for d in dirs if not (Path(folder) / d).is_symlink()]
            if rel_folder and not os.listdir(folder) and wanted.matches(rel_folder):
                empty.add(rel_folder)
    return Found(tuple(sorted(files.items())), tuple(sorted(links.items())), tuple(sorted(empty)))


def _link(root: Path, path: str) -> str:
    target = os.readlink(root / path)
    problem = link_problem(path, target)
    if problem is not None:
        raise InputError(f"output symlink {path!r} -> {target!r} {problem}")
    return target


def link_problem(path: str, target: str) -> str | None:
    """Why a symlink at ``path`` pointing to ``target`` may not be stored or restored."""
    if not target or target.startswith("/") or "\\" in target or "\0" in target:
        return "is absolute (only relative links inside the workspace are kept)"
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if joined == ".." or joined.startswith("../"):
        return "points out of the workspace"
    if _under_git(joined):
        return "points into .git"
    return None


def _under_git(path: str) -> bool:
    return any(part.lower() == ".git" for part in path.split("/"))
