"""Python imports: source bytes -> ImportRefs with ``ast``, and ImportRefs -> repo files.

Extraction reads ``import a.b``, ``from a.b import c`` (``a.b``, plus ``a.b.c`` as a
candidate since ``c`` may be a submodule), relative imports (kept as written,
``..pkg.y``, and resolved against the importing file's folder), and
``importlib.import_module`` / ``__import__`` calls: a string literal is an import, any
other argument is reported as ``dynamic`` with its source text, never guessed. Any
import not at module or class level (inside ``if``, ``try``, ``with``, loops,
functions, conditional expressions) is ``conditional``; ``if TYPE_CHECKING:``
imports count too, as a change to them can break type checks.

Resolution follows the import system over a set of source roots, the folders that
would be on ``sys.path``:

- A package (``a/b/__init__.py``) wins over a module (``a/b.py``) in one root, as
  Python's path finder does. Importing ``a.b.c`` also runs ``a/__init__.py`` and
  ``a/b/__init__.py``, so those are part of the resolution.
- A module or package found under two roots is ``ambiguous``: both are reported
  and neither is chosen. A namespace package (a folder without ``__init__.py``)
  may span roots; it loads no file, so it resolves to no file of its own.
- A top-level name found under no root is ``external``: the standard library when
  ``sys.stdlib_module_names`` lists it, else third-party. A standard-library name
  resolves to a repo file only under a root holding the importing file, where a
  script's own folder shadows the standard library; elsewhere it is external, so
  one ``logging.py`` in a tool folder does not become a dependency of every file.
- A missing submodule of a regular package of the repo is ``unresolved``; a
  missing part of a namespace package is ``external``, since another portion of it
  may be installed from outside the repo.

Limits: only ``.py`` sources are read (not ``.pyi`` stubs or extension modules);
the roots are treated as one merged search path, not in ``sys.path`` order; any
callee named ``import_module`` or ``__import__`` counts; a third-party name cannot
be told from a typo without the lockfile, so both are ``external``.
"""

from __future__ import annotations

import ast
import sys
import warnings
from collections.abc import Iterable

from graphkit.paths import is_under, parent_dirs
from graphkit.readers.infer.resolve import (
    MAX_SOURCE_BYTES,
    ImportRef,
    RefKind,
    Resolution,
    too_large,
)

SUFFIXES: tuple[str, ...] = (".py",)
ROOT_MARKERS = frozenset({"pyproject.toml", "setup.py", "setup.cfg", "BUILD.toml"})

# Nodes whose bodies may not run when the module is imported: children are conditional.
_CONDITIONAL = (
    ast.If, ast.IfExp, ast.Try, ast.TryStar, ast.While, ast.For, ast.AsyncFor, ast.With,
    ast.AsyncWith, ast.Match, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.BoolOp,
    ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
)  # fmt: skip


# The nodes that hold statements: what a walk for import statements must enter.
_BODIES = (ast.stmt, ast.excepthandler, ast.match_case)


def imports(source: bytes, path: str) -> tuple[ImportRef, ...]:
    """Every import of one Python file, sorted by line.

    A file that does not parse gives one ``unparseable`` ref at the failing line
    (its ``module`` is the parser's message) instead of raising. Time is linear in
    the file's size; a file over ``MAX_SOURCE_BYTES`` is not read (one
    ``unparseable`` ref says so).
    """
    if len(source) > MAX_SOURCE_BYTES:
        return (too_large(source),)
    try:
        # Invalid escapes and the like warn at compile time; this function only reads.
        # (catch_warnings swaps process-wide state: call from one thread, or processes.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source, filename=path)
    except SyntaxError as err:
        return (ImportRef(err.msg, err.lineno or 1, "unparseable"),)
    except (ValueError, RecursionError, MemoryError) as err:  # null bytes, absurd nesting
        return (ImportRef(str(err) or type(err).__name__, 1, "unparseable"),)
    refs: list[ImportRef] = []
    # Import statements sit only in statement bodies; an import call may sit in any
    # expression, but only a file naming one needs its expressions walked (most do not,
    # and expressions are most of a syntax tree).
    calls = b"import_module" in source or b"__import__" in source
    # An explicit stack, not recursion: generated files can nest deeper than the C stack.
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, conditional = stack.pop()
        refs.extend(_refs_of(node, conditional))
        inner = conditional or isinstance(node, _CONDITIONAL)
        stack.extend(
            (child, inner)
            for child in ast.iter_child_nodes(node)
            if calls or isinstance(child, _BODIES)
        )
    return tuple(sorted(dict.fromkeys(refs), key=lambda r: (r.line, r.module, r.from_name)))


def _refs_of(node: ast.AST, conditional: bool) -> list[ImportRef]:
    """The refs one node makes by itself (its children are visited separately)."""
    if isinstance(node, ast.Import):
        return [ImportRef(a.name, node.lineno, "absolute", conditional) for a in node.names]
    if isinstance(node, ast.ImportFrom):
        base = "." * node.level + (node.module or "")
        kind: RefKind = "relative" if node.level else "absolute"
        sep = "" if base.endswith(".") else "."  # "from . import x" names ".x", not "..x".
        refs = [ImportRef(base, node.lineno, kind, conditional)]
        refs += [
            ImportRef(base + sep + a.name, node.lineno, kind, conditional, from_name=True)
            for a in node.names
            if a.name != "*"
        ]
        return refs
    if isinstance(node, ast.Call) and _callee(node.func) is not None:
        ref = _call_ref(node, conditional)
        return [] if ref is None else [ref]
    return []


def _callee(func: ast.expr) -> str | None:
    """``import_module`` or ``__import__`` when ``func`` names one (bare or as attribute)."""
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    return name if name in ("import_module", "__import__") else None


def _call_ref(call: ast.Call, conditional: bool) -> ImportRef | None:
    """The ref of an ``import_module(name, package)`` or ``__import__(name, ..., level)`` call."""
    is_dunder = _callee(call.func) == "__import__"
    name_arg = _argument(call, 0, "name")
    if name_arg is None:
        return None
    line = call.lineno
    name = _literal(name_arg)
    if name is None:
        return ImportRef(_shown(name_arg), line, "dynamic", conditional)
    if is_dunder:
        level_arg = _argument(call, 4, "level")
        level = 0 if level_arg is None else _literal_int(level_arg)
        if level is None:
            return ImportRef(_shown(level_arg or call), line, "dynamic", conditional)
        name = "." * level + name
    elif name.startswith("."):
        package = _argument(call, 1, "package")
        if isinstance(package, ast.Name) and package.id == "__package__":
            return ImportRef(name, line, "relative", conditional)
        anchor = None if package is None else _literal(package)
        if anchor is None:  # importlib itself raises without a package; report, do not guess
            return ImportRef(_shown(call), line, "dynamic", conditional)
        return ImportRef(_absolutize(name, anchor), line, "absolute", conditional)
    if name.startswith("."):
        return ImportRef(name, line, "relative", conditional)
    return ImportRef(name, line, "absolute", conditional)


def _shown(node: ast.AST) -> str:
    """The source text of an expression, for a ``dynamic`` ref."""
    try:
        return ast.unparse(node)
    except RecursionError:  # ast.unparse recurses; the parser accepts deeper nesting
        return f"({type(node).__name__} nested too deep to show)"


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    """The argument at ``position`` or passed as ``keyword``, if any."""
    if len(call.args) > position and not isinstance(call.args[position], ast.Starred):
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def _literal(node: ast.expr) -> str | None:
    """The value of a string literal, or of an f-string without placeholders."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and all(isinstance(v, ast.Constant) for v in node.values):
        return "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
    return None


def _literal_int(node: ast.expr) -> int | None:
    """The value of a non-negative int literal."""
    if isinstance(node, ast.Constant) and type(node.value) is int and node.value >= 0:
        return node.value
    return None


def _absolutize(name: str, package: str) -> str:
    """``importlib.util.resolve_name``: ``..x`` against package ``a.b.c`` is ``a.b.x``."""
    level = len(name) - len(name.lstrip("."))
    base = package.rsplit(".", level - 1)[0] if level > 1 else package
    rest = name[level:]
    return f"{base}.{rest}" if rest else base


def default_roots(files: Iterable[str]) -> tuple[str, ...]:
    """Source roots inferred from the repository's file list, sorted.

    Every folder holding a ``pyproject.toml``, ``setup.py``, ``setup.cfg`` or
    ``BUILD.toml`` (the flat layout: packages sit beside the manifest), and every
    folder named ``src`` with Python files below it that is not itself a package
    (the src layout).
    """
    paths = set(files)
    roots: set[str] = set()
    for path in paths:
        folder, _, base = path.rpartition("/")
        if base in ROOT_MARKERS:
            roots.add(folder)
        if path.endswith(".py"):
            for parent in parent_dirs(path):
                is_src = parent == "src" or parent.endswith("/src")
                if is_src and f"{parent}/__init__.py" not in paths:
                    roots.add(parent)
    return tuple(sorted(roots))


def _join(base: str, parts: Iterable[str]) -> str:
    """``base/p1/p2`` with ``""`` as the repository root."""
    return "/".join(p for p in (base, *parts) if p)


class PythonResolver:
    """Resolves Python ImportRefs to repo files under the given source roots."""

    suffixes: tuple[str, ...] = SUFFIXES

    def __init__(self, files: Iterable[str], roots: Iterable[str]) -> None:
        """``files``: every repo-relative file path; ``roots``: repo-relative folders."""
        self._files = frozenset(f for f in files if f.endswith(".py"))
        # Folders that hold Python files, at any depth: candidates for namespace packages.
        self._dirs = frozenset(d for f in self._files for d in parent_dirs(f))
        self._roots = tuple(sorted(set(roots)))
        self._deepest_first = tuple(sorted(self._roots, key=len, reverse=True))
        # Top-level name -> the roots that hold it, so a lookup tries a few roots,
        # not the hundreds a repo with a BUILD.toml per folder has.
        tops: dict[str, set[str]] = {}
        root_set = frozenset(self._roots)
        for path in self._files:
            for root in parent_dirs(path):
                if root in root_set:
                    top = path[len(root) + 1 if root else 0 :].split("/", 1)[0]
                    tops.setdefault(top.removesuffix(".py"), set()).add(root)
        self._tops = {top: tuple(sorted(found)) for top, found in tops.items()}

    def imports(self, source: bytes, path: str) -> tuple[ImportRef, ...]:
        """The ImportRefs of one Python file (see ``imports``)."""
        return imports(source, path)

    def resolve(self, ref: ImportRef, from_path: str) -> Resolution:
        """Where ``ref``, found in the repo file ``from_path``, leads."""
        if ref.kind == "relative":
            return self._relative(ref.module, from_path)
        if ref.kind == "absolute":
            return self._absolute(ref.module, from_path)
        return Resolution("unresolved", reason=f"{ref.kind} import has no module to resolve")

    def _find(self, base: str, parts: list[str]) -> str | None:
        """The file of dotted ``parts`` in folder ``base``: package before module."""
        stem = _join(base, parts)
        for candidate in (f"{stem}/__init__.py", f"{stem}.py"):
            if candidate in self._files:
                return candidate
        return None

    def _parents(self, base: str, parts: list[str]) -> tuple[str, ...]:
        """The ``__init__.py`` files that importing ``parts`` from ``base`` runs first."""
        inits = (f"{_join(base, parts[:k])}/__init__.py" for k in range(1, len(parts)))
        return tuple(f for f in inits if f in self._files)

    def _absolute(self, name: str, from_path: str) -> Resolution:
        """Resolve a dotted name against every root; see the module docstring."""
        parts = name.split(".")
        roots = self._tops.get(parts[0], ())
        hits = [(root, f) for root in roots if (f := self._find(root, parts))]
        if parts[0] in sys.stdlib_module_names:
            hits = [(root, f) for root, f in hits if is_under(from_path, root)]
            if not hits:
                return Resolution("external", reason="standard library")
        if len(hits) > 1:
            where = ", ".join(root or "." for root, _ in hits)
            return Resolution("ambiguous", tuple(f for _, f in hits), f"found under {where}")
        if hits:
            root, found = hits[0]
            return Resolution("resolved", (found, *self._parents(root, parts)), "")
        portions = [root for root in roots if _join(root, parts) in self._dirs]
        if portions:
            inits = sorted({f for root in portions for f in self._parents(root, [*parts, "_"])})
            return Resolution("resolved", tuple(inits), "namespace package: loads no file")
        return self._missing(parts)

    def _missing(self, parts: list[str]) -> Resolution:
        """Why ``parts`` is in no root: external, or a missing piece of a repo package."""
        roots = self._tops.get(parts[0], ())
        for k in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:k])
            files = [f for root in roots if (f := self._find(root, parts[:k]))]
            if any(f.endswith("/__init__.py") for f in files):
                return Resolution("unresolved", reason=f"package {prefix} has no {parts[k]}")
            if files:
                return Resolution("unresolved", reason=f"{prefix} is a module, not a package")
            if any(_join(root, parts[:k]) in self._dirs for root in roots):
                return Resolution("external", reason=f"not in the repo part of {prefix}")
        return Resolution("external", reason="third-party: not under any source root")

    def _relative(self, module: str, from_path: str) -> Resolution:
        """Resolve ``..pkg.y`` against the folder of ``from_path``."""
        level = len(module) - len(module.lstrip("."))
        parts = [p for p in module[level:].split(".") if p]
        folders = from_path.split("/")[:-1]
        root = next((r for r in self._deepest_first if is_under(from_path, r)), None)
        floor = len(root.split("/")) if root else 0
        # The file's package is its folder below the root; each dot past the first
        # climbs one package, and Python refuses to climb out of the top-level one.
        climb = level - 1
        if climb > len(folders) or (root is not None and climb >= len(folders) - floor):
            return Resolution("unresolved", reason="relative import beyond the top-level package")
        package = folders[: len(folders) - climb]
        base = "/".join(package)
        own_init = f"{base}/__init__.py" if base else "__init__.py"
        found = self._find(base, parts) if parts else None
        if found is not None or (not parts and own_init in self._files):
            return Resolution("resolved", (found or own_init, *self._parents(base, parts)), "")
        if _join(base, parts) in self._dirs:
            return Resolution("resolved", self._parents(base, [*parts, "_"]), "namespace package")
        if root is not None and own_init not in self._files:
            # In a namespace package the rest of the name may live under another root.
            return self._absolute(".".join([*package[floor:], *parts]), from_path)
        return Resolution("unresolved", reason=f"no module {'.'.join(parts)} in {base or '.'}")
