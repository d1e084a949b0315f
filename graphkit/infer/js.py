"""JavaScript and TypeScript imports: source bytes -> ImportRefs, and ImportRefs -> repo files.

Extraction needs no JS parser. A small tokenizer skips what can hide a fake
import (``//`` and ``/* */`` comments, ``'`` and ``"`` strings, template literals with
nested ``${}``, regex literals) and a matcher reads these forms from the tokens:

- ``import x from "y"``, ``import {a, type B} from "y"``, ``import * as n from "y"``,
  ``import type T from "y"``, ``import "y"``;
- ``export {a} from "y"``, ``export * from "y"``, ``export * as n from "y"``,
  ``export type {T} from "y"``;
- ``require("y")`` (also TypeScript's ``import x = require("y")``) and ``import("y")``,
  with a string or a template literal without ``${}``. Any other argument is
  reported as ``dynamic`` with its source text. ``import()`` is lazy, so it is
  always ``conditional``; ``require`` is conditional inside any ``{}`` (an object
  literal too: the tokenizer cannot tell it from a block).

The subset's limits: a ``/`` after ``)`` is division and after ``}`` a regex (both
are rare the other way round); an unterminated string ends at its line, so JSX
text such as ``Don't`` hides at most the rest of its line, but a lone backtick in
JSX text hides what follows it; ``require.resolve``, ``/// <reference>`` and
``new URL(...)`` are not read; ``extends`` naming a package (``@tsconfig/node20``)
is not followed. An unterminated comment or template literal at the end of the file is
reported as ``unparseable`` beside the refs found before it.

Resolution, in TypeScript's order: relative specifiers against the importing
file's folder; the nearest ``tsconfig.json`` (or ``jsconfig.json``) ``paths`` and
``baseUrl``, following ``extends``; workspace packages by name (``@acme/ui`` and
``@acme/ui/sub``) through their ``package.json``; everything else is ``external``.
A file is tried as written, then with ``.ts .tsx .d.ts .mts .cts .js .jsx .mjs
.cjs .json``, then as a folder (``package.json`` ``main``, then ``index.*``); ``./x.js``
also finds ``x.ts``, as TypeScript's node16 and bundler resolution do.

At ~600 lines this module is past the ~400-line guide: it is one language,
extraction then resolution, and the cut when it grows is at ``TsPaths`` (the
resolver, tsconfig and package.json reading would move to a module of their own).
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from graphkit.errors import InputError
from graphkit.infer.resolve import ImportRef, RefKind, Resolution
from graphkit.paths import parent_dirs

SUFFIXES: tuple[str, ...] = (".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".mts", ".cts")
EXTENSIONS: tuple[str, ...] = (
    ".ts", ".tsx", ".d.ts", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs", ".json",
)  # fmt: skip
CONFIG_NAMES: tuple[str, ...] = ("tsconfig.json", "jsconfig.json")
_JS_TO_TS = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}
# After these words a "/" starts a regex literal; after other names it divides.
_REGEX_AFTER_WORDS = frozenset(
    {"return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case",
     "do", "else", "yield", "await"}
)  # fmt: skip


TokenKind = Literal["name", "punct", "string", "template", "subst", "other"]
# One match per token, so the loop runs in C for the common cases: blanks and
# comments, words, and '/" strings (an unescaped newline ends a string: recovery
# for JSX text such as "Don't"). "//" never starts a regex literal (an empty regex
# is not valid), so it is always a comment. Any other character is one "char".
_TOKEN = re.compile(
    r"""(?P<skip>(?:\s+|//[^\n]*|/\*[\s\S]*?\*/)+)
    |(?P<word>[\w$\u0080-\U0010ffff]+)
    |'(?P<single>(?:[^'\\\n]|\\[\s\S])*)'?
    |"(?P<double>(?:[^"\\\n]|\\[\s\S])*)"?
    |(?P<char>\.\.\.|[\s\S])""",
    re.VERBOSE,
)
_ESCAPE = re.compile(r"\\([\s\S])")


class _Token(NamedTuple):
    """One token: ``text`` is a name, a punctuator, or a string's contents.

    ``kind`` "template" is a template literal without ``${}`` (a literal);
    "subst" is the head of one with substitutions (never a literal). ``start`` is
    the offset in the source, ``depth`` how many block ``{`` are open around it.
    A NamedTuple, not a frozen dataclass: a large bundle has hundreds of thousands
    of tokens, and a tuple is several times cheaper to build.
    """

    kind: TokenKind
    text: str
    line: int
    start: int
    depth: int


class _Scanner:
    """Splits JS/TS text into _Tokens; ``broken`` is set when the text ends inside a token."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line = 1
        self.tokens: list[_Token] = []
        self.braces: list[bool] = []  # True where the "{" was a template's "${"
        self.blocks = 0  # how many of ``braces`` are False: open block/object braces
        self.broken: tuple[int, str] | None = None
        if text.startswith("#!"):  # A hashbang line is no JavaScript: skip to its end.
            end = text.find("\n")
            self.i = len(text) if end < 0 else end

    def run(self) -> list[_Token]:
        """Tokenize the whole text."""
        text, n = self.text, len(self.text)
        while self.i < n and self.broken is None:
            match = _TOKEN.match(text, self.i)
            assert match is not None  # "char" matches any character
            group, value, start, line = match.lastgroup, match.group(), self.i, self.line
            self.i = match.end()
            self.line += value.count("\n")
            if group == "word":
                self._emit("name" if not value[0].isdigit() else "other", value, start, line)
            elif group in ("single", "double"):
                body = match.group(group)
                self._emit(
                    "string", _ESCAPE.sub(r"\1", body) if "\\" in body else body, start, line
                )
            elif group == "char":
                self.i = start
                self._char(value, start, line)
        return self.tokens

    def _emit(self, kind: TokenKind, value: str, start: int, line: int) -> None:
        # Only block braces make a require conditional, not a template's "${".
        self.tokens.append(_Token(kind, value, line, start, self.blocks))

    def _char(self, c: str, start: int, line: int) -> None:
        """Read a token starting with the punctuator ``c`` at ``self.i``."""
        if c == "`":
            self.i += 1
            self._template(start, line)
        elif c == "}" and self.braces and self.braces[-1]:
            self.braces.pop()
            self.i += 1
            self._template(start, line, head=False)
        elif self.text.startswith("/*", start):
            self.broken = (line, "unterminated /* comment")  # a closed one was skipped
        elif c == "/" and self._regex_allowed():
            self._regex()
            self._emit("other", "/", start, line)
        else:
            self.i += len(c)
            if c == "{":
                self.braces.append(False)
                self.blocks += 1
            elif c == "}" and self.braces:
                self.braces.pop()
                self.blocks -= 1
            self._emit("punct", c, start, line)

    def _template(self, start: int, line: int, head: bool = True) -> None:
        """Read template text up to "`" (its end) or "${" (a substitution opens)."""
        text, i = self.text, self.i
        while i < len(text) and text[i] != "`" and not text.startswith("${", i):
            i += 2 if text[i] == "\\" else 1
        self.line += text.count("\n", self.i, i)
        if i >= len(text):
            self.broken = (line, "unterminated template literal")
        elif text[i] == "`":
            self.i = i + 1
            if head:
                self._emit("template", text[start + 1 : i], start, line)
        else:
            self.i = i + 2
            self.braces.append(True)
            if head:
                self._emit("subst", "`", start, line)

    def _regex_allowed(self) -> bool:
        """Whether a "/" here starts a regex literal, judged by the token before it."""
        if not self.tokens:
            return True
        last = self.tokens[-1]
        if last.kind == "name":
            return last.text in _REGEX_AFTER_WORDS
        return last.kind == "punct" and last.text not in (")", "]")

    def _regex(self) -> None:
        """Skip a regex literal; give up at the end of the line (then it was division)."""
        text, i, in_class = self.text, self.i + 1, False
        while i < len(text) and text[i] != "\n":
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == "/" and not in_class:
                self.i = i + 1
                return
            in_class = (in_class or c == "[") and c != "]"
            i += 1
        self.i += 1


def imports(source: bytes, path: str) -> tuple[ImportRef, ...]:
    """Every import of one JS/TS file, sorted by line (see the module docstring)."""
    text = source.decode("utf-8-sig", errors="replace")
    scanner = _Scanner(text)
    tokens = scanner.run()
    refs: list[ImportRef] = []
    for i, tok in enumerate(tokens):
        if tok.kind != "name" or (i and tokens[i - 1].text in (".", "function")):
            continue  # obj.require(...), x.import, or a function declared as require
        if tok.text == "import":
            refs.extend(_import_at(text, tokens, i))
        elif tok.text == "export" and _reexport_follows(tokens, i):
            refs.extend(_from_clause(tokens, i))
        elif tok.text == "require" and _is(tokens, i + 1, "("):
            refs.extend(_call(text, tokens, i + 1, conditional=tok.depth > 0))
    if scanner.broken is not None:
        refs.append(ImportRef(scanner.broken[1], scanner.broken[0], "unparseable"))
    return tuple(sorted(dict.fromkeys(refs), key=lambda r: (r.line, r.module)))


def _is(tokens: list[_Token], i: int, text: str) -> bool:
    """Whether token ``i`` exists and is the name or punctuator ``text``."""
    return i < len(tokens) and tokens[i].kind in ("punct", "name") and tokens[i].text == text


def _ref(specifier: str, line: int, conditional: bool = False) -> ImportRef:
    relative = specifier in (".", "..") or specifier.startswith(("./", "../"))
    kind: RefKind = "relative" if relative else "absolute"
    return ImportRef(specifier, line, kind, conditional)


def _import_at(text: str, tokens: list[_Token], i: int) -> list[ImportRef]:
    """``import "y"``, ``import(...)``, or an import declaration ending ``from "y"``."""
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    if nxt is None or nxt.text == ".":
        return []  # import.meta
    if nxt.kind == "string":
        return [_ref(nxt.text, tokens[i].line)]
    if nxt.text == "(":
        return _call(text, tokens, i + 1, conditional=True)
    return _from_clause(tokens, i)


def _reexport_follows(tokens: list[_Token], i: int) -> bool:
    """Whether ``export`` at ``i`` starts ``export *``/``export {``/``export type {``."""
    if _is(tokens, i + 1, "type"):
        i += 1
    return _is(tokens, i + 1, "*") or _is(tokens, i + 1, "{")


def _from_clause(tokens: list[_Token], i: int) -> list[ImportRef]:
    """Walk an import/export clause from keyword ``i`` to ``from "y"``; [] if it ends otherwise.

    The clause holds only names, ``,``, ``*`` and a ``{}`` list (where string names
    are allowed); any other token ends the walk, so ``export {a};`` yields nothing.
    """
    depth = 0
    for j in range(i + 1, len(tokens)):
        tok = tokens[j]
        if tok.kind == "name" and tok.text == "from" and depth == 0:
            after = tokens[j + 1] if j + 1 < len(tokens) else None
            if after is not None and after.kind == "string":
                return [_ref(after.text, tokens[i].line)]
        if tok.text == "{" and tok.kind == "punct":
            depth += 1
        elif tok.text == "}" and tok.kind == "punct" and depth:
            depth -= 1
        elif not _in_clause(tok, depth):
            return []
    return []


def _in_clause(tok: _Token, depth: int) -> bool:
    """Whether ``tok`` may appear in an import/export clause, ``depth`` braces deep."""
    if tok.kind == "punct":
        return tok.text in (",", "*")
    return tok.kind == "name" or (depth > 0 and tok.kind == "string")


def _call(text: str, tokens: list[_Token], paren: int, conditional: bool) -> list[ImportRef]:
    """The ref of ``require(...)``/``import(...)`` whose "(" is token ``paren``."""
    line = tokens[paren].line
    arg = tokens[paren + 1] if paren + 1 < len(tokens) else None
    if arg is None or _is(tokens, paren + 1, ")"):
        return []
    closes = _is(tokens, paren + 2, ")") or _is(tokens, paren + 2, ",")
    if arg.kind in ("string", "template") and closes:
        return [_ref(arg.text, line, conditional)]
    end = _matching(tokens, paren)
    stop = tokens[end].start if end < len(tokens) else len(text)
    expression = " ".join(text[arg.start : stop].split())
    return [ImportRef(expression[:120], line, "dynamic", conditional)]


def _matching(tokens: list[_Token], paren: int) -> int:
    """The index of the ")" closing the "(" at ``paren``, or len(tokens)."""
    depth = 0
    for j in range(paren, len(tokens)):
        if tokens[j].kind == "punct" and tokens[j].text in ("(", "[", "{"):
            depth += 1
        elif tokens[j].kind == "punct" and tokens[j].text in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return j
    return len(tokens)


@dataclass(frozen=True)
class TsPaths:
    """The module-resolution settings of one tsconfig, after ``extends``.

    ``base_url`` is a repo folder (``compilerOptions.baseUrl``); ``paths`` are
    ``(pattern, substitutions)`` in file order, None when no config declares them.
    Substitutions are relative to ``base_url`` when set, else to ``paths_base``, the
    folder of the tsconfig that declared ``paths`` (TypeScript's rule since 4.1).
    """

    base_url: str | None
    paths: tuple[tuple[str, tuple[str, ...]], ...] | None
    paths_base: str

    def substitutions(self, specifier: str) -> tuple[str, ...] | None:
        """Repo paths to try for ``specifier``; None when no pattern matches it.

        An exact pattern wins; among ``*`` patterns the longest prefix wins, as in tsc.
        """
        best: tuple[int, str, tuple[str, ...]] | None = None
        for pattern, targets in self.paths or ():
            if pattern == specifier:
                best = (len(pattern) + 1, "", targets)
                break
            prefix, star, suffix = pattern.partition("*")
            fits = specifier.startswith(prefix) and specifier.endswith(suffix)
            fits = fits and len(specifier) >= len(prefix) + len(suffix)
            if star and fits and (best is None or len(prefix) > best[0]):
                best = (len(prefix), specifier[len(prefix) : len(specifier) - len(suffix)], targets)
        if best is None:
            return None
        base = self.base_url if self.base_url is not None else self.paths_base
        return tuple(_join(base, t.replace("*", best[1])) for t in best[2])


class JsResolver:
    """Resolves JS/TS ImportRefs to repo files (see the module docstring)."""

    suffixes: tuple[str, ...] = SUFFIXES

    def __init__(
        self,
        files: Iterable[str],
        tsconfigs: Mapping[str, bytes],
        packages: Mapping[str, str] | None = None,
        package_jsons: Mapping[str, bytes] | None = None,
    ) -> None:
        """Index the repository for resolution.

        ``files``: every repo file path. ``tsconfigs``: path -> bytes of every
        ``tsconfig*.json``/``jsconfig.json`` (extended ones included). ``packages``:
        workspace package name -> folder. ``package_jsons``: path -> bytes of the
        ``package.json`` files, read for ``exports``/``main`` (and for the names
        when ``packages`` is not given). Raises InputError for a malformed config.
        """
        self._files = frozenset(files)
        read: dict[str, TsPaths] = {}  # a shared base config is parsed once
        self._configs = {
            posixpath.dirname(path): _read_tsconfig(path, tsconfigs, (), read)
            for path in sorted(tsconfigs)  # the last wins: tsconfig.json over jsconfig.json
            if posixpath.basename(path) in CONFIG_NAMES
        }
        self._manifests = {
            posixpath.dirname(path): _load_jsonc(data, path)
            for path, data in (package_jsons or {}).items()
        }
        if packages is None:
            named = self._manifests.items()
            packages = {d["name"]: f for f, d in named if isinstance(d.get("name"), str)}
        self._packages = dict(packages)

    def imports(self, source: bytes, path: str) -> tuple[ImportRef, ...]:
        """The ImportRefs of one JS/TS file (see ``imports``)."""
        return imports(source, path)

    def resolve(self, ref: ImportRef, from_path: str) -> Resolution:
        """Where ``ref``, found in the repo file ``from_path``, leads."""
        spec = ref.module
        if ref.kind == "relative":
            if found := self._file_or_folder(_join(posixpath.dirname(from_path), spec)):
                return Resolution("resolved", found)
            return Resolution("unresolved", reason=f"no file for {spec} next to {from_path}")
        if ref.kind != "absolute":
            return Resolution("unresolved", reason=f"{ref.kind} import has no module to resolve")
        config = self._config_for(from_path)
        subs = config.substitutions(spec) if config else None
        for candidate in subs or ():
            if found := self._file_or_folder(candidate):
                return Resolution("resolved", found, "tsconfig paths")
        base_url = config.base_url if config is not None else None
        if base_url is not None and (found := self._file_or_folder(_join(base_url, spec))):
            return Resolution("resolved", found, "tsconfig baseUrl")
        if found := self._workspace_package(spec):
            return Resolution("resolved", found, "workspace package")
        if subs is not None:
            return Resolution("unresolved", reason="matches tsconfig paths, but no file exists")
        return Resolution("external", reason="not a workspace package")

    def _config_for(self, path: str) -> TsPaths | None:
        """The settings of the nearest tsconfig.json/jsconfig.json above ``path``."""
        return next((self._configs[d] for d in parent_dirs(path) if d in self._configs), None)

    def _file(self, target: str) -> str | None:
        """``target`` as written, with an extension added, or ``x.js`` written for ``x.ts``."""
        if target in self._files:
            return target
        for ext in EXTENSIONS:
            if target + ext in self._files:
                return target + ext
        stem, ext = posixpath.splitext(target)
        return next((stem + t for t in _JS_TO_TS.get(ext, ()) if stem + t in self._files), None)

    def _file_or_folder(self, path: str) -> tuple[str, ...]:
        """The files ``path`` names: a file, else a folder's package entry or index."""
        target = _normalize(path)
        if target is None:
            return ()
        if found := self._file(target):
            return (found,)
        if target in self._manifests:
            return self._entries(target)
        index = self._file(_join(target, "index"))
        return (index,) if index else ()

    def _entries(self, folder: str, subpath: str = ".") -> tuple[str, ...]:
        """A package's files for ``subpath``: ``exports`` (every condition), ``main``/``module``.

        When none of them is in the repo (they usually name a build output such as
        ``dist/``), the source is tried: ``<sub>`` and ``src/<sub>``, or for the
        package itself ``src/index.*`` then ``index.*``.
        """
        doc = self._manifests.get(folder, {})
        named = _export_targets(doc.get("exports"), subpath)
        if subpath == ".":
            named += [doc[k] for k in ("main", "module") if isinstance(doc.get(k), str)]
        targets = [t for t in (_normalize(_join(folder, n)) for n in named) if t is not None]
        found = [self._file(t) or self._file(_join(t, "index")) for t in targets]
        fallbacks = ("src/index", "index") if subpath == "." else (subpath, f"src/{subpath[2:]}")
        for fallback in fallbacks if not any(found) else ():
            target = _normalize(_join(folder, fallback))
            found.append(self._file(target) if target else None)
            if found[-1]:
                break
        return tuple(dict.fromkeys(f for f in found if f))

    def _workspace_package(self, spec: str) -> tuple[str, ...]:
        """``@acme/ui`` or ``@acme/ui/sub/path`` through the workspace package's folder."""
        parts = spec.split("/")
        size = 2 if spec.startswith("@") else 1
        folder = self._packages.get("/".join(parts[:size]))
        if folder is None:
            return ()
        return self._entries(folder, "./" + "/".join(parts[size:]) if parts[size:] else ".")


def _join(base: str, relative: str) -> str:
    """``base/relative`` with ``""`` as the repository root."""
    return f"{base}/{relative}" if base else relative


def _normalize(path: str) -> str | None:
    """A joined path made repo-relative; None when it climbs out of the repository."""
    norm = posixpath.normpath(path)
    if norm == ".":
        return ""
    return None if norm.startswith(("../", "/")) or norm == ".." else norm


def _export_targets(exports: Any, subpath: str) -> list[str]:
    """Every path ``exports`` maps ``subpath`` to, under any condition (all may load)."""
    if isinstance(exports, str | list) or (
        isinstance(exports, dict) and not any(k.startswith(".") for k in exports)
    ):
        exports = {".": exports}  # the sugar forms: one entry point, maybe with conditions
    if not isinstance(exports, dict):
        return []
    if subpath in exports:
        return list(_strings(exports[subpath]))
    matches = [
        (key.index("*"), key) for key in exports
        if key.count("*") == 1 and subpath.startswith(key.split("*")[0])
        and subpath.endswith(key.split("*")[1])
    ]  # fmt: skip
    if not matches:
        return []
    cut, key = max(matches)
    star = subpath[cut : len(subpath) - len(key) + cut + 1]
    return [s.replace("*", star) for s in _strings(exports[key])]


def _strings(value: Any) -> Iterator[str]:
    """The strings of a conditions value: a string, a list, or nested condition objects."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | dict):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _strings(item)


def _read_tsconfig(
    path: str, configs: Mapping[str, bytes], seen: tuple[str, ...], read: dict[str, TsPaths]
) -> TsPaths:
    """The TsPaths of the tsconfig at ``path``, merged over what it ``extends``.

    ``seen`` is the chain of configs extending this one (to report a cycle);
    ``read`` memoizes configs already read.
    """
    if path in read:
        return read[path]
    doc = _load_jsonc(configs[path], path)
    folder = posixpath.dirname(path)
    merged = TsPaths(None, None, folder)
    extends = doc.get("extends", [])
    for parent in [extends] if isinstance(extends, str) else extends:
        target = _extended(folder, parent, configs)
        if target is None:
            continue  # a package name (@tsconfig/node20): outside the repo, read no paths
        if target not in configs or target in seen:
            why = "is not a tsconfig of the repository" if target not in configs else "cycles"
            raise InputError(f"extends {parent!r}: {target} {why}", path=path)
        merged = _over(merged, _read_tsconfig(target, configs, (*seen, path), read))
    options = doc.get("compilerOptions") or {}
    read[path] = _over(merged, _own_paths(options, folder, path))
    return read[path]


def _own_paths(options: Any, folder: str, path: str) -> TsPaths:
    """The baseUrl/paths one config declares itself (None where it declares none)."""
    base = options.get("baseUrl") if isinstance(options, dict) else None
    paths = options.get("paths") if isinstance(options, dict) else None
    if not isinstance(paths, dict | None) or not isinstance(base, str | None):
        raise InputError("compilerOptions.paths/baseUrl have the wrong type", path=path)
    entries = None
    if paths is not None:
        entries = tuple(
            (k, tuple(v for v in vs if isinstance(v, str)))
            for k, vs in paths.items()
            if isinstance(vs, list)
        )
    base_url = None if base is None else _normalize(_join(folder, base))
    return TsPaths(base_url, entries, folder)


def _over(inherited: TsPaths, own: TsPaths) -> TsPaths:
    """``own`` settings over ``inherited`` ones, field by field, as ``extends`` merges."""
    base = own.base_url if own.base_url is not None else inherited.base_url
    if own.paths is not None:
        return TsPaths(base, own.paths, own.paths_base)
    return TsPaths(base, inherited.paths, inherited.paths_base)


def _extended(folder: str, name: str, configs: Mapping[str, bytes]) -> str | None:
    """The repo path an ``extends`` value names; None for a package specifier."""
    if not name.startswith(("./", "../", "/")):
        return None
    target = _normalize(_join(folder, name)) or name
    return target if target in configs or target.endswith(".json") else f"{target}.json"


def _load_jsonc(data: bytes, path: str) -> dict[str, Any]:
    """JSON with comments and trailing commas (tsconfig's dialect), as a dict."""
    text = data.decode("utf-8-sig", errors="replace")
    out: list[str] = []
    last = -1  # index in ``out`` of the last character that was not blank
    i = 0
    while i < len(text):
        if text[i] == '"':
            end = i + 1
            while end < len(text) and text[end] not in '"\n':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i : end + 1])
            last, i = len(out) - 1, end + 1
        elif text.startswith(("//", "/*"), i):
            close = text.find("\n" if text[i + 1] == "/" else "*/", i + 2)
            end = len(text) if close < 0 else close + (text[i + 1] == "*") * 2
            out.append("\n" * text.count("\n", i, end))  # keep line numbers for errors
            i = end
        else:
            if text[i] in "}]" and last >= 0 and out[last] == ",":
                out[last] = " "  # a trailing comma
            out.append(text[i])
            last = last if text[i].isspace() else len(out) - 1
            i += 1
    try:
        doc = json.loads("".join(out))
    except json.JSONDecodeError as err:
        raise InputError(f"invalid JSON: {err.msg}", path=path, line=err.lineno) from None
    if not isinstance(doc, dict):
        raise InputError("expected a JSON object", path=path, line=1)
    return doc
