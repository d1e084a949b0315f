"""JavaScript and TypeScript imports: source bytes -> ImportRefs.

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
``new URL(...)`` are not read; once a regex literal finds no closing ``/`` on its line,
the rest of that line reads ``/`` as division. An unterminated comment or template
literal at the end of the file is reported as ``unparseable`` beside the refs found
before it.

Most tokens are never looked at: between the stretches the matcher reads (from a
keyword to the end of its clause or call) and the tokens a "/" or a keyword looks
back at, runs of words, strings and punctuators are matched in C and only their last
token is kept. The refs are those of reading every token (the tests hold the two
to each other), at twice the speed.

The scan takes time linear in the file's size, whatever the file holds (unclosed
calls, clauses or regex literals by the hundred thousand); a file over
``MAX_SOURCE_BYTES`` is not read at all and gives one ``unparseable`` ref.

Resolution is in ``graphkit.readers.infer.js_resolve``.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from itertools import accumulate
from typing import Literal, NamedTuple

from graphkit.readers.infer.resolve import MAX_SOURCE_BYTES, ImportRef, RefKind, too_large

SUFFIXES: tuple[str, ...] = (".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".mts", ".cts")
EXTENSIONS: tuple[str, ...] = (
    ".ts", ".tsx", ".d.ts", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs", ".json",
)  # fmt: skip
CONFIG_NAMES: tuple[str, ...] = ("tsconfig.json", "jsconfig.json")
JS_TO_TS = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}
# After these words a "/" starts a regex literal; after other names it divides.
_REGEX_AFTER_WORDS = frozenset(
    {"return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case",
     "do", "else", "yield", "await"}
)  # fmt: skip


TokenKind = Literal["name", "punct", "string", "template", "subst", "other"]
# One match per token, so the loop runs in C for the common cases: the blanks and
# comments before a token are consumed by the same match (possessively: never given
# back), then a word or a '/" string (an unescaped newline ends a string: recovery
# for JSX text such as "Don't"). "//" never starts a regex literal (an empty regex
# is not valid), so it is always a comment. Any other character is one "char". At
# the end of the text only the blanks match.
_TOKEN = re.compile(
    r"""(?:\s+|//[^\n]*|/\*[\s\S]*?\*/)*+
    (?:(?P<keyword>(?:import|export|require)(?![\w$\u0080-\U0010ffff]))
    |(?P<word>[\w$\u0080-\U0010ffff]+)
    |'(?P<single>(?:[^'\\\n]|\\[\s\S])*)'?
    |"(?P<double>(?:[^"\\\n]|\\[\s\S])*)"?
    |(?P<special>[`{}/])
    |(?P<char>\.\.\.|[\s\S]))?""",
    re.VERBOSE,
)
_ESCAPE = re.compile(r"\\([\s\S])")
# Template text up to its closing "`", a "${", or a backslash with nothing after it.
_TEMPLATE_TEXT = re.compile(r"(?:[^`\\$]++|\\[\s\S]|\$(?!\{))*+")
# The characters whose token ``_Scanner._char`` must read (group "special") are
# "`{}/": any other "char" is a punctuator. The words an import can start with
# (group "keyword") are the only tokens ``imports`` starts from.

# A run of the tokens ``_TOKEN`` reads without ``_Scanner._char`` and that no import
# starts at: words other than the keywords, '/"-strings closed on their line, and
# punctuators other than "`{}/". Matched in C, many tokens at a time, where no walk
# of ``imports`` needs them (see ``_Scanner.run``); ``lastgroup`` is the run's last
# token, all that is kept of it. The repetition is greedy, not possessive: Python
# 3.11's re mis-reports a group's span in a possessive repetition ("The span of
# capturing group is wrong"); nothing follows it, so it never backtracks anyway.
_RUN_TOKENS = r"""(?:(?:\s+|//[^\n]*|/\*[\s\S]*?\*/)*+
    (?:(?!(?:import|export|require)(?![\w$\u0080-\U0010ffff]))
       (?P<word>[\w$\u0080-\U0010ffff]++)
    |'(?P<single>(?:[^'\\\n]++|\\[\s\S])*+)'
    |"(?P<double>(?:[^"\\\n]++|\\[\s\S])*+)"
    |(?P<char>\.\.\.|[^\s\w$\u0080-\U0010ffff'"`{}/])"""
_RUN = re.compile(_RUN_TOKENS + "))*", re.VERBOSE)
# The same with block braces, where no template's "${" is open (see ``_Scanner._fold``).
_RUN_BRACES = re.compile(_RUN_TOKENS + "|(?P<brace>[{}])))*", re.VERBOSE)
# The braces of a run, in order: its strings and comments are matched whole first.
_BRACES = re.compile(
    r"""'(?:[^'\\\n]++|\\[\s\S])*+'|"(?:[^"\\\n]++|\\[\s\S])*+"|//[^\n]*|/\*[\s\S]*?\*/
    |[^{}'"/]++|([{}])""",
    re.VERBOSE,
)
_STEPS = bytes.maketrans(b"{}", b"\x01\xff")  # as signed bytes: +1 and -1
_KEYWORDS = ("import", "export", "require")


class _Token(NamedTuple):
    """One token: ``text`` is a name, a punctuator, or a string's contents.

    ``kind`` "template" is a template literal without ``${}`` (a literal);
    "subst" is the head of one with substitutions (never a literal). ``start`` is
    the offset in the source (its line is found only for the few tokens an import
    names), ``depth`` how many block ``{`` are open around it. A NamedTuple built
    with ``tuple.__new__``, not a frozen dataclass: a large bundle has hundreds of
    thousands of tokens, and this is several times cheaper to build.
    """

    kind: TokenKind
    text: str
    start: int
    depth: int


class _Scanner:
    """Splits JS/TS text into _Tokens; ``broken`` is set when the text ends inside a token."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.tokens: list[_Token] = []
        self.keywords: list[int] = []  # indexes of the name tokens in _KEYWORDS
        self.braces: list[bool] = []  # True where the "{" was a template's "${"
        self.blocks = 0  # how many of ``braces`` are False: open block/object braces
        self.substitutions = 0  # how many of ``braces`` are True
        self.broken: tuple[int, str] | None = None  # (offset, what)
        # The end of the last line where a regex literal found no closing "/": the rest
        # of that line reads "/" as division, so a long line of "(/[" is read once,
        # not once per "/" (which would take time quadratic in the line's length).
        self.no_regex_before = -1
        if text.startswith("#!"):  # A hashbang line is no JavaScript: skip to its end.
            end = text.find("\n")
            self.i = len(text) if end < 0 else end

    def run(self, every_token: bool = False) -> list[_Token]:
        """Tokenize the whole text: every token where a walk of ``imports`` may read it
        (see ``_Needs``), elsewhere only the last token before each token ``_char``
        reads or a keyword, which is all the rules look back at (a "/" after it, a
        keyword's ``obj.``). ``every_token`` keeps them all, as the tests' reference."""
        # The hot loop of a cold scan: locals instead of attributes (synced around the
        # rare calls that read or change them), a regex group per case, and tokens
        # built without a Python-level constructor call. Between the tokens it needs,
        # a run of others is matched in C (_RUN): five times fewer turns of this loop.
        text, n, tokens, new = self.text, len(self.text), self.tokens, tuple.__new__
        append, match_at, keywords = tokens.append, _TOKEN.match, self.keywords
        run_at, run_braces_at = _RUN.match, _RUN_BRACES.match
        i, blocks = self.i, self.blocks
        needs = _Needs()
        seen = 0  # tokens before this index were shown to ``needs``
        while i < n:
            if not every_token and needs.met(i, len(tokens)):
                fold = self.substitutions == 0
                run = run_braces_at(text, i) if fold else run_at(text, i)
                assert run is not None  # no round at all matches the empty string
                if run.end() > i:
                    group = run.lastgroup
                    assert group is not None  # a token closed the run's last round
                    value, start = run.group(group), run.start(group)
                    if group == "word":
                        kind = "name" if not value[0].isdigit() else "other"
                    elif group == "char" or group == "brace":
                        kind = "punct"
                    else:  # a closed '- or "-quoted string
                        kind, start = "string", start - 1
                        if "\\" in value:
                            value = _ESCAPE.sub(r"\1", value)
                    if fold:
                        self._fold(i, run.end())
                        blocks = self.blocks
                    append(new(_Token, (kind, value, start, blocks)))
                    seen, i = len(tokens), run.end()
            match = match_at(text, i)
            assert match is not None  # the blanks match, if only the empty string
            group = match.lastgroup
            i = match.end()
            if group == "word":
                value = match.group(group)
                kind = "name" if not value[0].isdigit() else "other"
                append(new(_Token, (kind, value, match.start(group), blocks)))
            elif group == "char":
                append(new(_Token, ("punct", match.group(group), match.start(group), blocks)))
            elif group == "keyword":
                keywords.append(len(tokens))
                append(new(_Token, ("name", match.group(group), match.start(group), blocks)))
            elif group == "special":
                start = match.start(group)
                self.i = start
                self._char(text[start], start)
                if self.broken is not None:
                    break
                i, blocks = self.i, self.blocks
            elif group is not None:  # a '- or "-quoted string: the group is its body
                body = match.group(group)
                if "\\" in body:
                    body = _ESCAPE.sub(r"\1", body)
                append(new(_Token, ("string", body, match.start(group) - 1, blocks)))
            if seen < len(tokens) and not every_token:
                needs.saw(tokens, seen)
                seen = len(tokens)
        self.i = i
        return tokens

    def _fold(self, start: int, end: int) -> None:
        """Count the block braces of a run matched from ``start`` to ``end`` with none
        of a template's "${" open: each "{" opens one, each "}" closes one if any is
        open (as ``_char`` reads them one by one)."""
        text = self.text
        if text.find("{", start, end) < 0 and text.find("}", start, end) < 0:
            return
        braces = "".join(_BRACES.findall(text, start, end))
        closing, blocks = braces.count("}"), self.blocks
        if not closing:
            after = blocks + len(braces)
        else:  # a "}" with none open is no step down: the lowest the plain sum goes
            lowest = min(accumulate(array("b", braces.encode().translate(_STEPS)), initial=0))
            after = len(braces) - 2 * closing + max(blocks, -lowest)
        if after > blocks:
            self.braces.extend([False] * (after - blocks))
        else:
            del self.braces[after:]
        self.blocks = after

    def _emit(self, kind: TokenKind, value: str, start: int) -> None:
        # Only block braces make a require conditional, not a template's "${".
        self.tokens.append(_Token(kind, value, start, self.blocks))

    def _char(self, c: str, start: int) -> None:
        """Read a token starting with the punctuator ``c`` at ``self.i``."""
        if c == "`":
            self.i += 1
            self._template(start)
        elif c == "}" and self.braces and self.braces[-1]:
            self.braces.pop()
            self.substitutions -= 1
            self.i += 1
            self._template(start, head=False)
        elif self.text.startswith("/*", start):
            self.broken = (start, "unterminated /* comment")  # a closed one was skipped
        elif c == "/" and start >= self.no_regex_before and self._regex_allowed():
            self._regex()
            self._emit("other", "/", start)
        else:
            self.i += len(c)
            if c == "{":
                self.braces.append(False)
                self.blocks += 1
            elif c == "}" and self.braces:
                self.braces.pop()
                self.blocks -= 1
            self._emit("punct", c, start)

    def _template(self, start: int, head: bool = True) -> None:
        """Read template text up to "`" (its end) or "${" (a substitution opens)."""
        text = self.text
        match = _TEMPLATE_TEXT.match(text, self.i)
        assert match is not None  # the empty string matches
        i = match.end()
        if i >= len(text) or text[i] == "\\":  # a backslash here is the text's last character
            self.broken = (start, "unterminated template literal")
        elif text[i] == "`":
            self.i = i + 1
            if head:
                self._emit("template", text[start + 1 : i], start)
        else:
            self.i = i + 2
            self.braces.append(True)
            self.substitutions += 1
            if head:
                self._emit("subst", "`", start)

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
        self.no_regex_before = i
        self.i += 1


class _Needs:
    """Where the walks of ``imports`` may still read tokens, as the scan goes: every
    token from a keyword to the third after it (``import("y")``, ``export type {``),
    through an import or export clause to the token ending it (``_from_clause``), and
    up to ``_SHOWN_SOURCE`` characters past a non-literal argument of
    ``require(``/``import(`` (``_call`` shows that much of it). Each walk ends at the
    next import or export, and the last needs a bounded stretch: the tokens kept stay
    linear in the text however the walks overlap.
    """

    __slots__ = ("clause", "tokens", "until")

    def __init__(self) -> None:
        self.tokens = 0  # every token is needed while fewer than this many are read
        self.clause = -1  # the brace depth of the clause being walked; -1: none
        self.until = 0  # every token starting before this offset is needed

    def met(self, offset: int, count: int) -> bool:
        """Whether no walk needs the tokens from ``offset`` on, ``count`` tokens read."""
        return count >= self.tokens and self.clause < 0 and offset >= self.until

    def saw(self, tokens: list[_Token], first: int) -> None:
        """Follow the walks over ``tokens[first:]``, the tokens read since the last call."""
        for k in range(first, len(tokens)):
            tok = tokens[k]
            if self.clause >= 0:  # as _from_clause walks, "from" before any other test
                if tok.kind == "punct" and tok.text == "{":
                    self.clause += 1
                elif tok.kind == "punct" and tok.text == "}" and self.clause:
                    self.clause -= 1
                elif not _in_clause(tok, self.clause):
                    self.clause = -1
            if tok.kind == "name" and tok.text in _KEYWORDS:  # only a keyword reads so
                self.tokens = k + 4
                if tok.text != "require":
                    self.clause = 0
            if k >= 3 and tokens[k - 2].text == "(":
                keyword, arg = tokens[k - 3], tokens[k - 1]
                literal = arg.kind in ("string", "template") and _closes(tok)
                if keyword.kind == "name" and keyword.text in _KEYWORDS and not literal:
                    self.until = max(self.until, arg.start + _SHOWN_SOURCE)


def _closes(tok: _Token) -> bool:
    """Whether ``tok`` ends a call's literal argument, as ``_call`` tells."""
    return tok.kind in ("punct", "name") and tok.text in (")", ",")


class _Lines:
    """Line numbers of offsets in a text, found by bisection over its newlines."""

    def __init__(self, text: str) -> None:
        self._newlines = [match.start() for match in re.finditer("\n", text)]

    def of(self, offset: int) -> int:
        """The 1-based line holding ``offset``."""
        return bisect_left(self._newlines, offset) + 1


def imports(source: bytes, path: str) -> tuple[ImportRef, ...]:
    """Every import of one JS/TS file, sorted by line (see the module docstring).

    Time is linear in the file's size; a file over ``MAX_SOURCE_BYTES`` is not read
    (one ``unparseable`` ref says so).
    """
    return _imports(source, every_token=False)


def _imports(source: bytes, every_token: bool) -> tuple[ImportRef, ...]:
    """``imports``, reading every token when ``every_token`` (the same refs, slower)."""
    if len(source) > MAX_SOURCE_BYTES:
        return (too_large(source),)
    text = source.decode("utf-8-sig", errors="replace")
    scanner = _Scanner(text)
    tokens = scanner.run(every_token)
    closers = _Closers(tokens)
    lines = _Lines(text)
    refs: list[ImportRef] = []
    for i in scanner.keywords:
        tok = tokens[i]
        if i and tokens[i - 1].text in (".", "function"):
            continue  # obj.require(...), x.import, or a function declared as require
        if tok.text == "import":
            refs.extend(_import_at(text, tokens, i, closers, lines))
        elif tok.text == "export" and _reexport_follows(tokens, i):
            refs.extend(_from_clause(tokens, i, lines))
        elif tok.text == "require" and _is(tokens, i + 1, "("):
            refs.extend(_call(text, tokens, i + 1, closers, lines, conditional=tok.depth > 0))
    if scanner.broken is not None:
        offset, what = scanner.broken
        refs.append(ImportRef(what, lines.of(offset), "unparseable"))
    return tuple(sorted(dict.fromkeys(refs), key=lambda r: (r.line, r.module)))


def _is(tokens: list[_Token], i: int, text: str) -> bool:
    """Whether token ``i`` exists and is the name or punctuator ``text``."""
    return i < len(tokens) and tokens[i].kind in ("punct", "name") and tokens[i].text == text


def _ref(specifier: str, line: int, conditional: bool = False) -> ImportRef:
    relative = specifier in (".", "..") or specifier.startswith(("./", "../"))
    kind: RefKind = "relative" if relative else "absolute"
    return ImportRef(specifier, line, kind, conditional)


def _import_at(
    text: str, tokens: list[_Token], i: int, closers: _Closers, lines: _Lines
) -> list[ImportRef]:
    """``import "y"``, ``import(...)``, or an import declaration ending ``from "y"``."""
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    if nxt is None or nxt.text == ".":
        return []  # import.meta
    if nxt.kind == "string":
        return [_ref(nxt.text, lines.of(tokens[i].start))]
    if nxt.text == "(":
        return _call(text, tokens, i + 1, closers, lines, conditional=True)
    return _from_clause(tokens, i, lines)


def _reexport_follows(tokens: list[_Token], i: int) -> bool:
    """Whether ``export`` at ``i`` starts ``export *``/``export {``/``export type {``."""
    if _is(tokens, i + 1, "type"):
        i += 1
    return _is(tokens, i + 1, "*") or _is(tokens, i + 1, "{")


def _from_clause(tokens: list[_Token], i: int, lines: _Lines) -> list[ImportRef]:
    """Walk an import/export clause from keyword ``i`` to ``from "y"``; [] if it ends otherwise.

    The clause holds only names, ``,``, ``*`` and a ``{}`` list (where string names
    are allowed); any other token ends the walk, so ``export {a};`` yields nothing.
    The words ``import`` and ``export`` end it too: they start the next statement,
    so every token is walked at most once however many clauses never end.
    """
    depth = 0
    for j in range(i + 1, len(tokens)):
        tok = tokens[j]
        if tok.kind == "name" and tok.text == "from" and depth == 0:
            after = tokens[j + 1] if j + 1 < len(tokens) else None
            if after is not None and after.kind == "string":
                return [_ref(after.text, lines.of(tokens[i].start))]
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
    if tok.kind == "name":
        return tok.text not in ("import", "export")
    return depth > 0 and tok.kind == "string"


def _call(
    text: str,
    tokens: list[_Token],
    paren: int,
    closers: _Closers,
    lines: _Lines,
    conditional: bool,
) -> list[ImportRef]:
    """The ref of ``require(...)``/``import(...)`` whose "(" is token ``paren``."""
    line = lines.of(tokens[paren].start)
    arg = tokens[paren + 1] if paren + 1 < len(tokens) else None
    if arg is None or _is(tokens, paren + 1, ")"):
        return []
    closes = _is(tokens, paren + 2, ")") or _is(tokens, paren + 2, ",")
    if arg.kind in ("string", "template") and closes:
        return [_ref(arg.text, line, conditional)]
    end = closers.of(paren)
    stop = tokens[end].start if end < len(tokens) else len(text)
    # Only the first 120 characters are shown: read a bounded slice, not up to a ")"
    # that may be megabytes away (or never come).
    expression = " ".join(text[arg.start : min(stop, arg.start + _SHOWN_SOURCE)].split())
    return [ImportRef(expression[:120], line, "dynamic", conditional)]


_SHOWN_SOURCE = 512  # source characters read to show a dynamic argument


class _Closers:
    """The bracket closing each "(", "[" or "{" token, found in one pass on first use.

    Brackets of any kind count alike (``(]`` closes), as a scan for depth zero would.
    """

    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._found: dict[int, int] | None = None

    def of(self, opening: int) -> int:
        """The index of the token closing token ``opening``, or len(tokens)."""
        if self._found is None:
            self._found = {}
            stack: list[int] = []
            for j, tok in enumerate(self._tokens):
                if tok.kind != "punct":
                    continue
                if tok.text in ("(", "[", "{"):
                    stack.append(j)
                elif tok.text in (")", "]", "}") and stack:
                    self._found[stack.pop()] = j
        return self._found.get(opening, len(self._tokens))
