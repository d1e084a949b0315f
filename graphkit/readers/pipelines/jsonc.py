"""JSON with comments (turbo.json, nx.json, project.json): bytes -> a document, with lines.

turbo and nx read their files as JSONC: ``//`` and ``/* */`` comments and trailing
commas are allowed. They are blanked out (newlines kept, so every line number stays
true) and the rest is read by the standard JSON parser. Parsers keep no positions
for values, so ``line_of`` finds a key's line by its text, walking down the path of
keys that leads to it.
"""

from __future__ import annotations

import json
from typing import Any

from graphkit.errors import InputError
from graphkit.tomldoc import TOO_DEEP


def load_jsonc(data: bytes, path: str) -> dict[str, Any]:
    """The object a JSONC file holds, or an InputError naming the file and line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", path=path) from None
    try:
        doc = json.loads(strip(text))
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    except RecursionError:
        raise InputError(TOO_DEEP, path=path) from None
    if not isinstance(doc, dict):
        raise InputError(f"must hold an object, found {type(doc).__name__}", path=path, line=1)
    return doc


def strip(text: str) -> str:
    """``text`` with comments and trailing commas blanked, every newline kept."""
    out: list[str] = []
    i, n = 0, len(text)
    comma: int | None = None  # index in ``out`` of a comma that may be trailing
    while i < n:
        c = text[i]
        if c == '"':
            end = i + 1
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i : end + 1])
            comma = None
            i = end + 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:end]))
            i = end
        else:
            if c in "]}" and comma is not None:
                out[comma] = " "
            if c == ",":
                comma = len(out)
            elif not c.isspace():
                comma = None
            out.append(c)
            i += 1
    return "".join(out)


def line_of(data: bytes, *keys: str) -> int | None:
    """The line of the last of ``keys``, each looked for (as ``"key"``) after the one before.

    ``line_of(data, "tasks", "build", "dependsOn")`` is the line of ``dependsOn`` in
    the ``build`` task. A key that is not found leaves the line where the search was.
    """
    lines = data.decode("utf-8", "replace").splitlines()
    found: int | None = None
    start = 0
    for key in keys:
        needle = json.dumps(key)
        for number in range(start, len(lines)):
            if needle in lines[number]:
                found, start = number + 1, number + 1
                break
    return found
