"""Target labels: ``//path/to/pkg:name``, ``//path/to/pkg`` and ``:name``.

A package is any folder git can hold, so a label must be able to name folders like
``fixtures/astro pages`` or ``non-ascii-path/测试``. Labels are written with
percent-escapes for the characters that would break them: in printed labels, every
ASCII character outside ``A-Z a-z 0-9 _ . + - @ = , ~`` (and ``/`` between folders)
is ``%XX``, as are whitespace and control characters of any script; other printable
characters (``测试``) stay as they are. So ``//fixtures/astro%20pages`` names the
folder ``fixtures/astro pages``. The written form is plain ASCII punctuation-free
where it matters (no ``:``, ``#``, spaces or quotes), so it survives shells, JSON,
CI matrices and ``:``/``#`` parsing unchanged. Parsing accepts both spellings: the
escaped one, and raw characters other than ``:`` and ``%``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import quote, unquote

from graphkit.errors import InputError

# What a label writes as is; the fast path of ``str(label)`` checks this first.
_PLAIN = re.compile(r"^[A-Za-z0-9_.+\-@=,~/]*$")
_SAFE_ASCII = "_.+-@=,~"
_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


class Label(NamedTuple):
    """A target's name: the package folder (repo-relative, ``""`` for the root) and a name.

    Both fields hold the real characters (``astro pages``); ``str()`` writes them
    escaped. Immutable like the dataclasses elsewhere, but a NamedTuple: graphs hash
    and sort tens of thousands of labels, and tuple hashing and ordering run in C.
    """

    package: str
    name: str

    def __str__(self) -> str:
        return _written(self)

    @property
    def short(self) -> str:
        """The shortest spelling: ``//pkg`` when the name is the folder's basename."""
        if self.package and self.package.rsplit("/", 1)[-1] == self.name:
            return f"//{escape(self.package, keep='/')}"
        return str(self)


@lru_cache(maxsize=1 << 16)
def _written(label: Label) -> str:
    """``str(label)``, memoized: a run writes each label into several keys and lines."""
    return f"//{escape(label.package, keep='/')}:{escape(label.name)}"


def escape(text: str, *, keep: str = "") -> str:
    """``text`` as a label writes it: ``%XX`` for what would break a label (see above)."""
    if _PLAIN.match(text) and ("/" in keep or "/" not in text):
        return text
    out = []
    for char in text:
        if char.isascii():
            plain = char.isalnum() or char in _SAFE_ASCII or char in keep
            out.append(char if plain else quote(char, safe=""))
        else:
            plain = char.isprintable() and not char.isspace()
            out.append(char if plain else quote(char, safe=""))
    return "".join(out)


def _unescape(text: str, original: str) -> str:
    if "%" not in text:
        return text
    if _ESCAPE.search(text):
        raise InputError(f"{original!r} is not a label: '%' must start an escape such as %20")
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise InputError(f"{original!r} is not a label: its escapes are not UTF-8") from None


def check_package(folder: str) -> str:
    """Refuse a package folder no label can name: empty, ``.`` or ``..`` segments, NUL."""
    parts = folder.split("/")
    if folder and (any(p in ("", ".", "..") for p in parts) or "\0" in folder):
        raise InputError(f"{folder!r} is not a package folder")
    return folder


def parse_label(text: str, *, package: str | None = None) -> Label:
    """Parse ``text`` as a label; ``:name`` is relative to ``package`` when one is given.

    Escapes (``%20``) are decoded; ``Label.__str__`` writes them back, so
    ``parse_label(str(label)) == label``. Raises InputError (without a location;
    callers add the file and line) when the text is not a label.
    """
    if text.startswith(":"):
        if package is None:
            raise InputError(f"relative label {text!r} needs a package context")
        pkg, name = package, _unescape(text[1:], text)
    elif text.startswith("//"):
        body = text[2:]
        if ":" in body:
            raw_pkg, _, raw_name = body.partition(":")
            pkg, name = _unescape(raw_pkg, text), _unescape(raw_name, text)
        else:
            pkg = _unescape(body, text)
            name = pkg.rstrip("/").rsplit("/", 1)[-1]
    else:
        raise InputError(f"{text!r} is not a label (expected //path/to/pkg:name or :name)")
    pkg = pkg.rstrip("/")
    parts = pkg.split("/")
    if pkg and (any(p in ("", ".", "..") for p in parts) or "\0" in pkg):
        raise InputError(f"{text!r} is not a label: bad package path {pkg!r}")
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise InputError(f"{text!r} is not a label: bad target name {name!r}")
    return Label(pkg, name)


def did_you_mean(wanted: str, candidates: Iterable[str]) -> str | None:
    """A ``did you mean 'x'?`` hint for the closest candidate, or None."""
    import difflib  # a hint comes with an error: loaded then

    matches = difflib.get_close_matches(wanted, list(candidates), n=1, cutoff=0.6)
    return f"did you mean {matches[0]!r}?" if matches else None


_TASK_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*")


def is_task_name(name: str) -> bool:
    """True for a name a task may have (``build``, ``test:unit``, ``lint.fix``)."""
    return _TASK_NAME.fullmatch(name) is not None


def check_need(need: str, what: str, path: str, line: int | None) -> None:
    """A task dependency must read ``^task``, ``task`` or ``LABEL#task``."""
    name = need[1:] if need.startswith("^") else need.rpartition("#")[2]
    target = need.rpartition("#")[0] if "#" in need and not need.startswith("^") else None
    if not _TASK_NAME.fullmatch(name) or target == "":
        raise InputError(
            f"need {need!r} of {what} is not a task",
            path=path,
            line=line,
            hint="write '^build' (every dependency's build), 'build' (this target's), "
            "or '//libs/gen:codegen#build' (one target's)",
        )
