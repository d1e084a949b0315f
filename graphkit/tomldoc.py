"""Reading TOML documents with errors that name the file and line."""

from __future__ import annotations

import re
from typing import Any

from graphkit.errors import InputError
from graphkit.labels import did_you_mean

_AT_LINE = re.compile(r"\(at line (\d+), column \d+\)")
_AT_END = re.compile(r"\(at end of document\)")
# The parsers of TOML, JSON and YAML recurse: nesting thousands deep exhausts the stack.
TOO_DEEP = "nested too deeply to read (thousands of levels of arrays or tables)"


def load_toml(data: bytes, path: str) -> dict[str, Any]:
    """Parse ``data`` as TOML, raising an InputError naming ``path`` and the line."""
    import tomli  # here: a warm run reads every manifest from the memo, none as TOML

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", path=path) from None
    try:
        return tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        message = str(exc)
        match = _AT_LINE.search(message)
        line = int(match.group(1)) if match else None
        if line is None and _AT_END.search(message):
            line = max(1, len(text.splitlines()))
        reason = _AT_END.sub("", _AT_LINE.sub("", message)).strip()
        raise InputError(f"invalid TOML: {reason}", path=path, line=line) from None
    except RecursionError:  # tomli recurses into nested arrays and tables
        raise InputError(TOO_DEEP, path=path) from None


def line_of(data: bytes, key: str, *, occurrence: int = 0, start: int = 1) -> int | None:
    """The 1-based line where ``key = ...`` (or ``[[key]]``/``[key]``) appears.

    tomli keeps no positions, so error messages find the line by looking for the
    key's text; ``occurrence`` picks the n-th match at or after line ``start``.
    """
    pattern = re.compile(
        rf'^\s*(?:"?{re.escape(key)}"?\s*=|\[\[?\s*{re.escape(key)}\s*[\].])', re.MULTILINE
    )
    lines = data.decode("utf-8", "replace").splitlines()
    seen = 0
    for number, text in enumerate(lines[start - 1 :], start=start):
        if pattern.match(text):
            if seen == occurrence:
                return number
            seen += 1
    return None


def check_keys(
    table: dict[str, Any],
    allowed: set[str],
    *,
    what: str,
    path: str,
    data: bytes,
    start: int = 1,
) -> None:
    """Raise an InputError naming the first key of ``table`` that is not ``allowed``."""
    for key in table:
        if key not in allowed:
            raise InputError(
                f"unknown field {key!r} in {what}",
                path=path,
                line=line_of(data, key, start=start),
                hint=did_you_mean(key, sorted(allowed)) or f"allowed: {', '.join(sorted(allowed))}",
            )
