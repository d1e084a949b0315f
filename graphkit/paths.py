"""Repository-relative paths and the guard that keeps restored files inside the workspace."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NewType

from graphkit.errors import InputError

# A repo-relative POSIX path: no leading "/", no "." or ".." segments, no empty segments.
# A NewType rather than a class: graphs hold tens of thousands of them, and str is cheapest.
RepoPath = NewType("RepoPath", str)


def repo_path(text: str, *, source: str | None = None) -> RepoPath:
    """Validate ``text`` as a repo-relative POSIX path and return it as a RepoPath."""
    if not text or text.startswith("/") or "\\" in text or "\0" in text:
        raise InputError(f"{text!r} is not a repo-relative path", path=source)
    parts = text.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InputError(f"{text!r} is not a normalized repo-relative path", path=source)
    return RepoPath(text)


def glob_problem(pattern: str) -> str | None:
    """Why ``pattern``, a relative glob (``!`` negates), can match nothing it means; else None.

    A glob that is empty, absolute, uses ``\\``, climbs out with ``..`` or holds a
    reversed range (``[z-a]``) would silently match nothing, so callers refuse it.
    """
    body = pattern[1:] if pattern.startswith("!") else pattern
    while body.startswith("./"):
        body = body[2:]
    if not body:
        return None if pattern.endswith("./") else "it is empty"  # "./" names the folder itself
    if body.startswith("/") or "\\" in body or "\0" in body:
        return "it is not a relative path"
    if ".." in body.split("/"):
        return "it leaves its folder with '..'"
    return _range_problem(body)


def _range_problem(body: str) -> str | None:
    """A reversed ``[a-b]`` range in ``body``, which matches no character at all."""
    i = 0
    while i < len(body):
        if body[i] != "[":
            i += 1
            continue
        start = i + 1 + (i + 1 < len(body) and body[i + 1] in "!^")
        close = body.find("]", start + 1)  # a "]" right after "[" is a member, not the end
        if close < 0:
            return None  # an unclosed "[" is a literal character
        members = body[start:close]
        for k in range(len(members) - 2):
            low, dash, high = members[k], members[k + 1], members[k + 2]
            if dash == "-" and low > high:
                return f"'[{members}]' holds the reversed range {low}-{high}, which matches nothing"
        i = close + 1
    return None


def parent_dirs(path: str) -> list[str]:
    """The folders containing ``path``, deepest first, ending with the root ``""``."""
    out = []
    while path:
        path = path.rpartition("/")[0]
        out.append(path)
    return out


def is_under(path: str, folder: str) -> bool:
    """True when ``path`` is ``folder`` itself or lies below it (``""`` is the root)."""
    return not folder or path == folder or path.startswith(folder + "/")


def inside_workspace(root: Path, relative: str) -> Path:
    """Resolve ``relative`` under ``root``, refusing anything that would land outside it.

    Rejects absolute paths, ``..`` segments, symlinks (at any level) that point
    outside ``root``, and anything under ``.git`` (see ``escape_reason``). Used before
    writing any file whose name came from a cache.
    """
    reason = escape_reason(root, relative)
    if reason is not None:
        raise InputError(f"refusing path {relative!r}: it {reason}")
    return root.resolve() / relative


def escape_reason(root: Path, relative: str) -> str | None:
    """Why writing ``relative`` under ``root`` would be unsafe, or None when it is safe.

    Unsafe: absolute, ``..`` segments, a symlink at any level leading out of
    ``root``, or anything under ``.git`` (written there, a file can run as a hook or
    rewrite the history), as written or where its symlinks lead.
    """
    return WorkspaceGuard(root).reason(relative)


class WorkspaceGuard:
    """``escape_reason`` for many paths under one root: each folder on the way is
    resolved once (thousands of outputs share their parent folders). Answers hold
    for the moment they are given: make a new guard after anything may have written."""

    def __init__(self, root: Path) -> None:
        # Strings, not Paths: a run checks thousands of outputs, and each Path made
        # and compared costs more than the lstat it guards.
        self._root = os.path.realpath(root)
        self._prefix = self._root.rstrip("/") + "/"
        self._real: dict[str, str] = {"": self._root}

    def reason(self, relative: str) -> str | None:
        """See ``escape_reason``."""
        if relative.startswith("/") or os.path.isabs(relative):
            return "is absolute or leaves the workspace"
        parts = [part for part in relative.split("/") if part and part != "."]
        if not parts or ".." in parts:
            return "is absolute or leaves the workspace"
        target = self._resolve("/".join(parts))
        if not target.startswith(self._prefix):
            return "resolves outside the workspace"
        # Case-folded, because a case-insensitive file system reads ".GIT" as ".git".
        lowered = (*parts, *target[len(self._prefix) :].split("/"))
        if any(part.lower() == ".git" for part in lowered):
            return "is inside .git"
        return None

    def _resolve(self, relative: str) -> str:
        """Where ``relative`` (normalized) leads: its resolved parent, then itself
        resolved only when it is a symlink (as ``Path.resolve`` would)."""
        found = self._real.get(relative)
        if found is None:
            parent, _, name = relative.rpartition("/")
            found = os.path.join(self._resolve(parent), name)
            if os.path.islink(found):
                found = os.path.realpath(found)
            self._real[relative] = found
        return found


# The named sets a task's `inputs` may list beside globs: the target's full inputs
# (turbo's `$TURBO_DEFAULT$`) and its interface face (what its dependents observe).
NAMED_INPUTS = ("$default", "$interface")


def input_problem(entry: str) -> str | None:
    """Why ``entry`` cannot be one of a task's ``inputs`` (a package-relative glob, a
    repo-relative one starting with ``//``, either negated with ``!``, or a named set
    from ``NAMED_INPUTS``), or None when it can."""
    if entry.startswith("$") or entry.startswith("!$"):
        if entry in NAMED_INPUTS:
            return None
        known = ", ".join(NAMED_INPUTS)
        return f"is no named input (known: {known}; a named set cannot be negated)"
    body = entry[1:] if entry.startswith("!") else entry
    body = body[2:] if body.startswith("//") else body  # repo-relative: from the root
    problem = glob_problem(body)
    if problem is None and body.rstrip("/") in ("", "."):
        problem = "it is empty"
    return problem
