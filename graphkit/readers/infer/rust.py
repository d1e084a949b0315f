"""Rust file includes: source bytes -> ImportRefs, and ImportRefs -> repo files.

``include_bytes!("p")``, ``include_str!("p")`` and ``include!("p")`` compile the file
at ``p`` into the crate, ``p`` relative to the folder of the file that names it. A
crate's own files are its inputs already; an include that leaves the crate (helix's
``include_bytes!("../../languages.toml")``, a file at the repository root outside
every crate) makes that file an input of the crate, or the crate that owns it a dep.

Only string literals are read: ``include!(concat!(env!("OUT_DIR"), "/x.rs"))``
includes a file the build script generates, never a file of the repository, so it
is no import. Comments are skipped, so an include in commented-out code counts only
outside comments; a literal inside a longer string is not an include.
"""

from __future__ import annotations

import posixpath
import re

from graphkit.readers.infer.resolve import ImportRef, Resolution

SUFFIXES: tuple[str, ...] = (".rs",)
# A comment, a char literal or a string (skipped, so a '"' or a quote inside them
# hides nothing), or an include macro with a plain or raw string literal. A lifetime
# ('a) is no char literal: no quote follows its one character.
_TOKEN = re.compile(
    r"""//[^\n]*
    |/\*[\s\S]*?\*/
    |'(?:[^'\\\n]|\\[^'\n]{1,10})'
    |\bb?r(?P<skip_hashes>\#+)"[\s\S]*?"(?P=skip_hashes)
    |\binclude(?:_bytes|_str)?!\s*[(\[{]\s*
        (?:"(?P<plain>(?:[^"\\]|\\.)*)"|r(?P<hashes>\#*)"(?P<raw>[\s\S]*?)"(?P=hashes))
    |"(?:[^"\\]|\\[\s\S])*"
    """,
    re.VERBOSE,
)


def imports(source: bytes, path: str) -> tuple[ImportRef, ...]:
    """The include macros of one Rust file, with the literal path each names."""
    text = source.decode("utf-8", "replace")
    found = []
    for match in _TOKEN.finditer(text):
        literal = match.group("plain")
        if literal is None:
            literal = match.group("raw")
        elif "\\" in literal:
            literal = re.sub(r"\\(.)", r"\1", literal)
        if literal is not None:
            line = text.count("\n", 0, match.start()) + 1
            found.append(ImportRef(literal, line, "relative"))
    return tuple(found)


class RustResolver:
    """Resolves an include's path against the including file's folder."""

    suffixes: tuple[str, ...] = SUFFIXES

    def __init__(self, files: set[str] | frozenset[str]) -> None:
        self._files = files

    def imports(self, source: bytes, path: str) -> tuple[ImportRef, ...]:
        """See ``imports``."""
        return imports(source, path)

    def resolve(self, ref: ImportRef, from_path: str) -> Resolution:
        """The repo file an include names, or unresolved (outside the repo, missing)."""
        if ref.module.startswith("/"):
            return Resolution("external", reason="an absolute path outside the repository")
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(from_path), ref.module))
        if joined.startswith("../") or joined == "..":
            return Resolution("external", reason="a path outside the repository")
        if joined in self._files:
            return Resolution("resolved", (joined,))
        return Resolution("unresolved", reason=f"no file {joined}")
