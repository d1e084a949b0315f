"""The quarantine file: tests whose failures do not fail the job, until a date (pure).

```toml
[[quarantine]]
test = "tests/test_api.py::TestLogin::test_timeout"   # a test id, or a pattern
owner = "@platform-team"
reason = "times out on shared runners, see #412"
expires = 2026-12-31                                   # a TOML date, not a string
```

A muted test still runs and is reported; only its failure stops counting. Every
entry must expire, so a quarantine cannot outlive everyone's memory of it: it mutes
through its ``expires`` day, and from the next day on the test counts again.

In ``test``, ``*`` matches any run of characters (``/`` and ``::`` included) and
``?`` one character; everything else is literal. ``[`` in particular is not a
character class, because parametrized test ids contain brackets
(``test_add[1-2]``), and a file listing such an id must match exactly that test.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from graphkit.errors import InputError
from graphkit.tomldoc import check_keys, line_of, load_toml

_FIELDS = ("test", "owner", "reason", "expires")


@dataclass(frozen=True, slots=True)
class Entry:
    """One ``[[quarantine]]`` table."""

    test: str  # a test id, or a pattern with * and ?
    owner: str
    reason: str
    expires: datetime.date  # the last day the entry mutes
    line: int | None = None  # of its [[quarantine]] header, for reporting
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Compiled once here: is_muted runs for every failed test of a job.
        object.__setattr__(self, "_pattern", _compile(self.test))

    def matches(self, test_id: str) -> bool:
        """Whether ``test`` names ``test_id`` (exactly, or as a pattern)."""
        return self._pattern.fullmatch(test_id) is not None

    def is_expired(self, today: datetime.date) -> bool:
        """Whether ``today`` is past the entry's last day."""
        return today > self.expires


def parse_quarantine(data: bytes, path: str) -> tuple[Entry, ...]:
    """Parse and validate a quarantine file; InputError names the file and line."""
    doc = load_toml(data, path)
    check_keys(doc, {"quarantine"}, what="a quarantine file", path=path, data=data)
    tables = doc.get("quarantine", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise InputError(
            "'quarantine' must be an array of tables ([[quarantine]])",
            path=path,
            line=line_of(data, "quarantine"),
        )
    return tuple(_entry(table, index, data, path) for index, table in enumerate(tables))


def is_muted(entries: Iterable[Entry], test_id: str, today: datetime.date) -> Entry | None:
    """The first unexpired entry that names ``test_id``, or None when it counts."""
    for entry in entries:
        if not entry.is_expired(today) and entry.matches(test_id):
            return entry
    return None


def expired(entries: Iterable[Entry], today: datetime.date) -> tuple[Entry, ...]:
    """The entries past their last day, in file order, to report for clean-up."""
    return tuple(entry for entry in entries if entry.is_expired(today))


def _entry(table: dict[str, Any], index: int, data: bytes, path: str) -> Entry:
    header = line_of(data, "quarantine", occurrence=index)
    what = f"quarantine entry {index + 1}"
    check_keys(table, set(_FIELDS), what=what, path=path, data=data, start=header or 1)

    def line(key: str) -> int | None:
        found = line_of(data, key, start=header) if header is not None else None
        return found or header

    for key in _FIELDS:
        if key not in table:
            raise InputError(
                f"{what} has no {key!r}",
                path=path,
                line=header,
                hint=f"each [[quarantine]] needs {', '.join(_FIELDS)}",
            )
    for key in ("test", "owner", "reason"):
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise InputError(
                f"{key!r} of {what} must be a non-empty string", path=path, line=line(key)
            )
    expires = table["expires"]
    # tomli reads 2026-12-31T00:00:00 as a datetime, which is a date subclass.
    if not isinstance(expires, datetime.date) or isinstance(expires, datetime.datetime):
        raise InputError(
            f"'expires' of {what} must be a date, found {expires!r}",
            path=path,
            line=line("expires"),
            hint="write a bare TOML date: expires = 2026-12-31",
        )
    return Entry(table["test"], table["owner"], table["reason"], expires, header)


def _compile(pattern: str) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)
