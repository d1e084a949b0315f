"""The nouns import inference shares, and ``edges``: sources + a resolver -> file edges.

Extraction (``python.imports``, ``js.imports``) turns one file's bytes into
ImportRefs; a resolver turns one ImportRef into a Resolution; ``edges`` runs both
over a repository and keeps what the graph needs: file -> file edges, and every
import that could not be tied to a file (ambiguous, unresolved, dynamic,
unparseable) as a Problem with file and line. Nothing here reads the disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

RefKind = Literal["absolute", "relative", "dynamic", "unparseable"]
ResolutionKind = Literal["resolved", "external", "ambiguous", "unresolved"]
ProblemKind = Literal["ambiguous", "unresolved", "dynamic", "unparseable"]


@dataclass(frozen=True)
class ImportRef:
    """One import found in a source file.

    ``module`` is the specifier as the language writes it: ``a.b`` or ``..pkg.y``
    for Python, ``./x`` or ``@acme/ui`` for JS. For ``dynamic`` it is the source
    text of the non-literal argument (shown to the user, never resolved); for
    ``unparseable`` it is the parser's message and ``line`` is where it failed.
    ``conditional`` marks imports that may not run: inside ``if``/``try``/a
    function in Python, lazy ``import()`` or a nested ``require`` in JS.
    ``from_name`` marks the ``a.b.c`` candidate of ``from a.b import c``: ``c`` is a
    submodule or merely a name defined in ``a.b``, so finding no file for it is
    not a problem.
    """

    module: str
    line: int
    kind: RefKind
    conditional: bool = False
    from_name: bool = False


# A source file larger than this is not read for imports: it is reported as
# ``unparseable`` (imports unknown) instead, so one generated or hostile file cannot
# stall a scan. Hand-written sources are far smaller; the scanners are linear, and
# this keeps the worst single file to a few seconds.
MAX_SOURCE_BYTES = 2 * 1024 * 1024


def too_large(source: bytes) -> ImportRef:
    """The ``unparseable`` ref of a file over ``MAX_SOURCE_BYTES``."""
    size, limit = len(source) / 2**20, MAX_SOURCE_BYTES // 2**20
    return ImportRef(
        f"{size:.1f} MiB is over the {limit} MiB limit: imports not read", 1, "unparseable"
    )


@dataclass(frozen=True)
class Resolution:
    """Where one ImportRef leads.

    ``resolved``: ``files`` are the repo files the import loads, the module's own
    file first (a Python import also runs its parent packages' ``__init__.py``; a
    package.json ``exports`` with several conditions may name several files; a
    Python namespace package loads none). ``ambiguous``: ``files`` are all the
    candidates, none chosen. ``external`` and ``unresolved``: no files.
    ``reason`` says why, in words, for reports and ``graphkit why``.
    """

    kind: ResolutionKind
    files: tuple[str, ...] = ()
    reason: str = ""


class Resolver(Protocol):
    """What ``edges`` needs from a language: which files, how to read, how to resolve."""

    @property
    def suffixes(self) -> tuple[str, ...]:
        """File name endings this resolver reads (``.py``; ``.ts``, ``.js``, ...)."""
        ...

    def imports(self, source: bytes, path: str) -> tuple[ImportRef, ...]:
        """The ImportRefs of one file."""
        ...

    def resolve(self, ref: ImportRef, from_path: str) -> Resolution:
        """Where ``ref``, found in the repo file ``from_path``, leads."""
        ...


@dataclass(frozen=True)
class ImportEdge:
    """``importer`` imports ``imported``: first at ``line``; conditional only if every import is."""

    importer: str
    imported: str
    line: int
    conditional: bool


@dataclass(frozen=True)
class Problem:
    """An import not tied to a file, or a file whose imports cannot be read.

    ``detail`` is the candidates (ambiguous), the reason (unresolved), or the
    parser's message (unparseable, where ``module`` is empty). ``candidates`` are
    the files an ambiguous import may load: the graph depends on all of them, since
    guessing one could miss a change.
    """

    path: str
    line: int
    kind: ProblemKind
    module: str
    detail: str
    candidates: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.kind == "unparseable":
            return f"{self.path}:{self.line}: cannot read imports: {self.detail}"
        return f"{self.path}:{self.line}: {self.kind} import {self.module!r} ({self.detail})"


@dataclass(frozen=True)
class FileImports:
    """File -> file import edges and the problems met, both sorted."""

    edges: tuple[ImportEdge, ...]
    problems: tuple[Problem, ...]


def edges(files: Mapping[str, bytes], resolver: Resolver) -> FileImports:
    """Read every file of ``files`` the resolver handles and resolve its imports.

    Files with other endings are skipped, so one call per language can take the
    whole repository. An import external to the repo gives neither edge nor problem.
    """
    found: list[ImportEdge] = []
    problems: list[Problem] = []
    for path in sorted(files):
        if path.endswith(resolver.suffixes):
            one = resolve_file(path, resolver.imports(files[path], path), resolver)
            found += one.edges
            problems += one.problems
    return FileImports(tuple(found), tuple(problems))


def resolve_file(path: str, refs: Iterable[ImportRef], resolver: Resolver) -> FileImports:
    """The edges and problems of one file's ImportRefs (``edges`` for a single file)."""
    found: dict[tuple[str, str], ImportEdge] = {}
    problems: list[Problem] = []
    for ref in refs:
        if ref.kind == "dynamic":
            problems.append(Problem(path, ref.line, "dynamic", ref.module, "not a literal"))
            continue
        if ref.kind == "unparseable":
            problems.append(Problem(path, ref.line, "unparseable", "", ref.module))
            continue
        res = resolver.resolve(ref, path)
        if res.kind == "resolved":
            _add_edges(found, path, ref, res.files)
        elif res.kind == "ambiguous":
            detail = "candidates: " + ", ".join(res.files)
            problems.append(Problem(path, ref.line, "ambiguous", ref.module, detail, res.files))
        elif res.kind == "unresolved" and not ref.from_name:
            problems.append(Problem(path, ref.line, "unresolved", ref.module, res.reason))
    ordered = sorted(found.values(), key=lambda e: e.imported)
    return FileImports(tuple(ordered), tuple(problems))


def _add_edges(
    found: dict[tuple[str, str], ImportEdge], path: str, ref: ImportRef, targets: tuple[str, ...]
) -> None:
    """Record ``path -> target`` for each target, merging repeated imports of one file."""
    for target in targets:
        if target == path:
            continue  # A package's __init__.py importing from itself is no dependency.
        old = found.get((path, target))
        if old is None:
            found[(path, target)] = ImportEdge(path, target, ref.line, ref.conditional)
        elif old.conditional and not ref.conditional:
            found[(path, target)] = ImportEdge(path, target, old.line, False)
