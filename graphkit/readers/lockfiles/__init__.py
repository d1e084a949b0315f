"""Lockfile precision: which workspace members' resolved external dependencies changed.

A change to a lockfile should affect only the members whose transitive external
closure differs, not every package of the ecosystem. Each module here parses one
format into a ``Lock`` (per member, the frozenset of ``Resolved`` externals it
reaches); ``changed_members`` compares two Locks of the same file.

Pure functions over bytes; the caller reads the files at base and head, maps member
keys (folders; crate names for Cargo; module paths for Go) to targets, and turns an
InputError from a parser into ``None``, which ``changed_members`` answers with
"cannot tell": every member of that ecosystem is affected.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from graphkit.errors import InputError
from graphkit.readers.manifests.ecosystems import SKIPPED_FOLDERS

if TYPE_CHECKING:
    # Loaded where a lockfile is read or compared: every `affected` asks ``is_lockfile``
    # of the changed paths, and most changes touch no lockfile.
    from graphkit.readers.lockfiles.model import Lock, Resolved

__all__ = ["LOCKFILES", "LOCK_FORMAT", "changed_members", "is_lockfile", "parse_lockfile"]

# Names the pickled shape of a Lock and what the parsers put in it: parsed lockfiles
# are memoized by blob id, so bump this whenever a parser's answer for the same
# bytes changes.
# 2: a Lock pickles as its table of packages (Lock.packed).
# 3: a Rush repository's pnpm lockfile names its members relative to common/temp/.
LOCK_FORMAT = 3

# Lockfile basename -> the ecosystem whose members it pins.
LOCKFILES: Mapping[str, str] = MappingProxyType(
    {
        "package-lock.json": "npm",
        "pnpm-lock.yaml": "npm",
        "yarn.lock": "npm",
        "uv.lock": "python",
        "Cargo.lock": "cargo",
        "go.sum": "go",
    }
)


def is_lockfile(path: str) -> bool:
    """True for a lockfile graphkit reads (outside installed-package folders)."""
    parts = path.split("/")
    return parts[-1] in LOCKFILES and not SKIPPED_FOLDERS.intersection(parts[:-1])


def parse_lockfile(data: bytes, path: str, *, manifests: Mapping[str, bytes] | None = None) -> Lock:
    """Parse the lockfile at repo-relative ``path`` with the parser its basename names.

    ``manifests`` (member folder -> ``package.json`` bytes) is needed only by yarn v1
    lockfiles, which do not record workspace members. ``go.sum`` is not handled here:
    it needs its ``go.mod``, see ``graphkit.readers.lockfiles.go.parse_go``. Raises InputError
    for an unknown basename or an unparseable file.
    """
    # The parsers (and PyYAML) load only when a lockfile is read: `affected` imports
    # this package on every run but parses lockfiles only when one changed.
    from graphkit.readers.lockfiles import cargo, npm, pnpm, uv, yarn

    basename = posixpath.basename(path)
    if basename == "package-lock.json":
        return npm.parse(data, path)
    if basename == "pnpm-lock.yaml":
        return pnpm.parse(data, path)
    if basename == "yarn.lock":
        return yarn.parse(data, path, manifests=manifests)
    if basename == "uv.lock":
        return uv.parse(data, path)
    if basename == "Cargo.lock":
        return cargo.parse(data, path)
    raise InputError(f"not a lockfile graphkit parses alone: {basename}", path=path)


def changed_members(before: Lock | None, after: Lock | None) -> Mapping[str, str] | None:
    """``{member: reason}`` for members whose transitive external closure differs.

    The reason names one differing package (``"lodash 4.17.20 -> 4.17.21"``). A member
    present on one side only is changed too. ``None`` means "cannot tell" (either side
    could not be parsed): the caller must treat every member of the ecosystem as
    affected, and say why.
    """
    if before is None or after is None:
        return None
    changed: dict[str, str] = {}
    for member in sorted(before.closure.keys() | after.closure.keys()):
        old = before.closure.get(member)
        new = after.closure.get(member)
        if old is None:
            changed[member] = f"new in {after.path}"
        elif new is None:
            changed[member] = f"no longer in {after.path}"
        elif old != new:
            changed[member] = _difference(old, new)
    return MappingProxyType(changed)


def _difference(old: frozenset[Resolved], new: frozenset[Resolved]) -> str:
    """Name the first (by package name) package that differs between two closures.

    A package whose versions differ is named before one that is only wired to other
    copies of its dependencies: a bump re-wires its dependents too, and the bump is
    the news.
    """
    from graphkit.readers.lockfiles.model import Resolved

    names = sorted({item.name for item in old ^ new})

    def versions(items: frozenset[Resolved], name: str) -> set[tuple[str, str | None]]:
        return {(i.version, i.integrity) for i in items if i.name == name}

    name = next((n for n in names if versions(old, n) != versions(new, n)), names[0])
    was = sorted((item for item in old if item.name == name), key=Resolved.sort_key)
    now = sorted((item for item in new if item.name == name), key=Resolved.sort_key)
    was_versions = ", ".join(item.version for item in was)
    now_versions = ", ".join(item.version for item in now)
    if not was:
        return f"{name} {now_versions} added"
    if not now:
        return f"{name} {was_versions} removed"
    if was_versions == now_versions:
        if {(i.version, i.integrity) for i in was} == {(i.version, i.integrity) for i in now}:
            # Same copies, wired to other copies of their dependencies.
            return f"{name} {now_versions} now depends on other copies of its dependencies"
        # Same versions, different bytes: a re-published package or a moved git ref.
        return f"{name} {now_versions} integrity changed"
    return f"{name} {was_versions} -> {now_versions}"
