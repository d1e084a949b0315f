"""Target labels: ``//path/to/pkg:name``, ``//path/to/pkg`` and ``:name``."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import NamedTuple

from graphkit.errors import InputError

_NAME = re.compile(r"^[A-Za-z0-9_.+\-@=,~]+$")
_PACKAGE = re.compile(r"^(?:[A-Za-z0-9_.+\-@=,~]+(?:/[A-Za-z0-9_.+\-@=,~]+)*)?$")


class Label(NamedTuple):
    """A target's name: the package folder (repo-relative, ``""`` for the root) and a name.

    Immutable like the dataclasses elsewhere, but a NamedTuple: graphs hash and sort
    tens of thousands of labels, and tuple hashing and ordering run in C.
    """

    package: str
    name: str

    def __str__(self) -> str:
        return f"//{self.package}:{self.name}"

    @property
    def short(self) -> str:
        """The shortest spelling: ``//pkg`` when the name is the folder's basename."""
        if self.package and self.package.rsplit("/", 1)[-1] == self.name:
            return f"//{self.package}"
        return str(self)


def parse_label(text: str, *, package: str | None = None) -> Label:
    """Parse ``text`` as a label; ``:name`` is relative to ``package`` when one is given.

    Raises InputError (without a location; callers add the file and line) when the
    text is not a label.
    """
    if text.startswith(":"):
        if package is None:
            raise InputError(f"relative label {text!r} needs a package context")
        pkg, name = package, text[1:]
    elif text.startswith("//"):
        body = text[2:]
        if ":" in body:
            pkg, _, name = body.partition(":")
        else:
            pkg, name = body, body.rsplit("/", 1)[-1]
    else:
        raise InputError(f"{text!r} is not a label (expected //path/to/pkg:name or :name)")
    pkg = pkg.rstrip("/")
    if not _PACKAGE.match(pkg) or ".." in pkg.split("/") or "." in pkg.split("/"):
        raise InputError(f"{text!r} is not a label: bad package path {pkg!r}")
    if not name or not _NAME.match(name) or name in (".", ".."):
        raise InputError(f"{text!r} is not a label: bad target name {name!r}")
    return Label(pkg, name)


def did_you_mean(wanted: str, candidates: Iterable[str]) -> str | None:
    """A ``did you mean 'x'?`` hint for the closest candidate, or None."""
    matches = difflib.get_close_matches(wanted, list(candidates), n=1, cutoff=0.6)
    return f"did you mean {matches[0]!r}?" if matches else None
