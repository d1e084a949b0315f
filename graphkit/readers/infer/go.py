"""Go embed directives: source bytes -> ImportRefs, and ImportRefs -> repo files.

``//go:embed pattern...`` compiles the files its patterns match into the package
(https://pkg.go.dev/embed). Patterns are relative to the Go file's folder, use
``path.Match`` syntax, may be quoted with ``"`` or backquotes, and a pattern naming a
folder embeds every file below it. Those files are what a module's build reads beyond
its Go sources, so they stay in the module's interface whatever their names.

Resolution over-approximates where that is cheaper and never misses a file: a folder
match takes every file below it, ``.`` and ``_`` files included (Go skips them unless
the pattern says ``all:``); a directive inside a raw string literal still counts.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from fnmatch import fnmatchcase

from graphkit.readers.infer.resolve import ImportRef, Resolution

SUFFIXES: tuple[str, ...] = (".go",)
_DIRECTIVE = re.compile(rb"^[ \t]*//go:embed[ \t]+([^\n]*)$", re.MULTILINE)
_PATTERN = re.compile(r'"((?:[^"\\]|\\.)*)"|`([^`]*)`|(\S+)')


def imports(source: bytes, path: str) -> tuple[ImportRef, ...]:
    """The embed patterns of one Go file, each with its directive's line."""
    found = []
    for match in _DIRECTIVE.finditer(source):
        line = source.count(b"\n", 0, match.start()) + 1
        text = match.group(1).decode("utf-8", "replace")
        for token in _PATTERN.finditer(text):
            pattern = next(group for group in token.groups() if group is not None)
            if token.group(1) is not None:
                pattern = re.sub(r"\\(.)", r"\1", pattern)
            pattern = pattern.removeprefix("all:")
            found.append(ImportRef(pattern, line, "relative"))
    return tuple(found)


class GoResolver:
    """Resolves an embed pattern to the files it matches below the embedding file."""

    suffixes: tuple[str, ...] = SUFFIXES

    def __init__(self, files: Iterable[str]) -> None:
        self._files = sorted(files)

    def imports(self, source: bytes, path: str) -> tuple[ImportRef, ...]:
        """See ``imports``."""
        return imports(source, path)

    def resolve(self, ref: ImportRef, from_path: str) -> Resolution:
        """Every repo file the pattern matches, or a file below a folder it matches."""
        parts = ref.module.split("/")
        if ref.module.startswith("/") or any(p in ("", ".", "..") for p in parts):
            return Resolution("unresolved", reason=f"invalid embed pattern {ref.module!r}")
        folder = posixpath.dirname(from_path)
        prefix = f"{folder}/" if folder else ""
        matched = tuple(
            path for path in self._below(prefix) if _matches(parts, path[len(prefix) :].split("/"))
        )
        if not matched:
            return Resolution("unresolved", reason=f"no file matches {ref.module!r}")
        return Resolution("resolved", matched)

    def _below(self, prefix: str) -> Iterable[str]:
        return (path for path in self._files if path.startswith(prefix))


def _matches(pattern: list[str], path: list[str]) -> bool:
    # Go's path.Match negates a class with '^', fnmatch with '!'.
    if len(path) < len(pattern):
        return False
    return all(
        fnmatchcase(name, glob.replace("[^", "[!"))
        for glob, name in zip(pattern, path[: len(pattern)], strict=True)
    )
